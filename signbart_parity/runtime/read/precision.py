"""Which precision a .tflite file holds, read from its operators and tensors (no runtime).

What each quantization mode leaves in a SignBart file (measured on files from litert-torch
and ai-edge-quantizer, every mode):

- static-int8: FULLY_CONNECTED / BATCH_MATMUL run on int8 activations (QUANTIZE at entry);
- dynamic-int8: those ops take float activations and int8 weights directly (hybrid kernels);
- weight-only-int8: int8 constants go through DEQUANTIZE into float ops;
- fp16: float16 constants go through DEQUANTIZE;
- fp32 (``none``): none of these.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from signbart_parity.errors import ParityInputError, TFLiteFileError
from signbart_parity.runtime.read.operators import builtin_operator_names, operator_name
from signbart_parity.targets import precision_label

_MATMULS = ("FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D")


@dataclass(frozen=True)
class FilePrecision:
    quantization: str  # the converter's name (none, fp16, dynamic-int8, ...)
    evidence: str  # what in the file says so, for people


def read_precision(path: str | Path) -> FilePrecision:
    """The precision ``path`` holds; TFLiteFileError if it is not a readable flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0)
        found = _census(model, schema)
    except (OSError, ValueError, IndexError, TypeError) as exc:
        raise TFLiteFileError(f"{path}: cannot read its operators ({exc}); re-export it.") from None
    if found["int8 activations"]:
        return FilePrecision(
            "static-int8", f"{found['int8 activations']} matmul ops on int8 activations"
        )
    if found["hybrid"]:
        return FilePrecision(
            "dynamic-int8", f"int8 weights into {found['hybrid']} float matmul ops (hybrid)"
        )
    if found["dequantize INT8"]:
        return FilePrecision(
            "weight-only-int8", f"{found['dequantize INT8']} int8 weights dequantized to float"
        )
    if found["dequantize FLOAT16"]:
        return FilePrecision("fp16", f"{found['dequantize FLOAT16']} float16 weights")
    return FilePrecision("none", "float32 weights and activations only")


def _census(model, schema) -> Counter:
    names = builtin_operator_names(schema)
    types = {value: key for key, value in vars(schema.TensorType).items() if key.isupper()}
    found: Counter = Counter()
    for index in range(model.SubgraphsLength()):
        graph = model.Subgraphs(index)

        def dtype(tensor: int, graph=graph) -> str:
            return types.get(graph.Tensors(tensor).Type(), "?") if tensor >= 0 else "-"

        for position in range(graph.OperatorsLength()):
            op = graph.Operators(position)
            code = model.OperatorCodes(op.OpcodeIndex())
            name = operator_name(code, names)
            inputs = [op.Inputs(i) for i in range(op.InputsLength())]
            if name in _MATMULS and len(inputs) >= 2:
                activation, weight = dtype(inputs[0]), dtype(inputs[1])
                if activation in ("INT8", "UINT8", "INT16"):
                    found["int8 activations"] += 1
                elif activation == "FLOAT32" and weight == "INT8":
                    found["hybrid"] += 1
            elif name == "DEQUANTIZE" and inputs:
                found[f"dequantize {dtype(inputs[0])}"] += 1
    return found


def judged_precision(path: str | Path, given: str | None) -> tuple[str, str]:
    """(the quantization to judge ``path`` under, the line that says how it was found).

    ``given`` (``--quantization``) is a check, not a requirement: None reads it from the
    file; a different one is bad input naming both."""
    found = read_precision(path)
    label = precision_label(found.quantization)
    if given is not None and given != found.quantization:
        raise ParityInputError(
            f"{path}: the file is {label} ({found.evidence}), you said "
            f"{precision_label(given)}; drop --quantization (it is read from the file) or "
            "check the file you meant."
        )
    how = "as given, and the file agrees" if given is not None else "read from the file"
    return found.quantization, f"precision: {label} ({how}: {found.evidence})"

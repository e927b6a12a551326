"""Looking inside a .tflite file: every intermediate tensor of one run (for divergence
localisation), and the dtypes of the tensors it stores.

Runs through the chosen runtime's Interpreter (ai_edge_litert or TensorFlow's tf.lite) with
every tensor preserved and no delegate: a delegate computes its partitions internally and
leaves intermediate tensors unfilled. CompiledModel exposes no intermediate tensors, so the
``compiled`` runtime is inspected through ai_edge_litert's Interpreter, which shares its
kernels' file format but not its delegate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from signbart_parity.quiet import notices_dropped
from signbart_parity.runtime.tflite import interpreter_api


def _interpreter(path: str | Path, runtime: str, **options):
    interpreter_class, no_delegates = interpreter_api(
        "litert" if runtime == "compiled" else runtime
    )
    with notices_dropped():
        return interpreter_class(
            model_path=str(path), experimental_op_resolver_type=no_delegates, **options
        )


def intermediates(
    path: str | Path,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    *,
    runtime: str = "litert",
    signature: str | None = None,
) -> list[tuple[str, np.ndarray]]:
    """Every float tensor of one invocation of ``path`` on a single example (batch 1): of
    its ``signature`` (the only one when None), or of its only subgraph when it has none."""
    interpreter = _interpreter(path, runtime, experimental_preserve_all_tensors=True)
    names = list(interpreter.get_signature_list())
    key = signature or (names[0] if names else None)
    if key is None:
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            value = keypoints if len(detail["shape"]) == 4 else attention_mask
            interpreter.set_tensor(detail["index"], np.ascontiguousarray(value, detail["dtype"]))
        interpreter.invoke()
        subgraph = 0
    else:
        runner = interpreter.get_signature_runner(key)
        feed = {
            name: np.ascontiguousarray(
                keypoints if len(detail["shape"]) == 4 else attention_mask, detail["dtype"]
            )
            for name, detail in runner.get_input_details().items()
        }
        runner(**feed)
        # Signatures are subgraphs in file order (the runner knows its own index).
        subgraph = getattr(runner, "_subgraph_index", names.index(key))
    tensors = []
    for detail in interpreter.get_tensor_details(subgraph):
        if np.dtype(detail["dtype"]) not in (np.float32, np.float16):
            continue
        try:
            value = interpreter.get_tensor(detail["index"], subgraph)
        except ValueError:  # a tensor with no data (e.g. a scratch buffer)
            continue
        with np.errstate(invalid="ignore", over="ignore"):  # scratch tensors hold garbage
            tensors.append((detail["name"], np.array(value, dtype=np.float32)))
    return tensors


def tensor_dtypes(path: str | Path, runtime: str = "litert") -> set[str]:
    """The dtypes of the tensors the file holds (empty when it cannot be read)."""
    try:
        details = _interpreter(path, runtime).get_tensor_details()
    except (ValueError, RuntimeError):
        return set()
    return {np.dtype(detail["dtype"]).name for detail in details}

"""The operator graph of one signature of a .tflite file, and single-op files cut out of it.

``read_graph`` lists a signature's operators in execution order (their type, input and
output tensor indices and names) from the flatbuffer, without a runtime. ``cut_op`` writes
a standalone file holding one operator: its constant inputs (weights, shapes) keep their
data, its other inputs become the file's inputs, its first output the file's output, under
one signature ``op`` (inputs ``input_00``, ... in the operator's order), so that every
backend (an Interpreter, CompiledModel, a pinned build's worker, the GPU) runs it as it
runs a whole model. Op-level localisation (``checks/ops.py``) runs these files fed the
reference's own input values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signbart_parity.errors import TFLiteFileError
from signbart_parity.runtime.read.operators import builtin_operator_names

ONE_OP_SIGNATURE = "op"
_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class Operator:
    """One operator of a subgraph, in execution order."""

    index: int
    type: str  # FULLY_CONNECTED, CUSTOM:<code>, ...
    inputs: tuple[int, ...]  # tensor indices; -1 for an omitted optional input
    outputs: tuple[int, ...]


@dataclass
class Graph:
    """One signature's subgraph: its operators and what its tensors are."""

    path: Path
    subgraph: int
    operators: list[Operator]
    names: list[str]  # tensor index -> name
    shapes: list[tuple[int, ...]]
    dtypes: list[str]  # tensor index -> numpy dtype name ("" when numpy has none)
    constant: set[int]  # tensors whose data the file stores (weights, shapes)
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def variable_inputs(self, op: Operator) -> list[int]:
        """The inputs of ``op`` computed at run time (what a single-op file is fed)."""
        return [t for t in op.inputs if t >= 0 and t not in self.constant]


def _unpack(path: Path):
    from ai_edge_litert import schema_py_generated as schema

    raw = path.read_bytes()
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(raw), 0)
    except Exception as exc:  # a truncated or foreign flatbuffer fails anywhere inside
        raise TFLiteFileError(f"{path}: cannot read its graph ({exc}); re-export it.") from None
    for buffer in model.buffers or []:
        if buffer.offset:  # data stored after the flatbuffer: bring it inline
            end = buffer.offset + buffer.size
            buffer.data = np.frombuffer(raw[buffer.offset : end], dtype=np.uint8)
            buffer.offset, buffer.size = 0, 0
    return model


def _subgraph_index(model, path: Path, signature: str | None) -> int:
    definitions = model.signatureDefs or []
    if not signature:
        return definitions[0].subgraphIndex if definitions else 0
    for definition in definitions:
        if definition.signatureKey.decode() == signature:
            return definition.subgraphIndex
    raise TFLiteFileError(f"{path}: no signature {signature!r}; name one the file declares.")


_DTYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    6: "bool",
    7: "int16",
    9: "int8",
    10: "float64",
}


def read_graph(path: str | Path, signature: str | None = None) -> Graph:
    """The operators and tensors of ``signature``'s subgraph (the first when None)."""
    from ai_edge_litert import schema_py_generated as schema

    path = Path(path)
    model = _unpack(path)
    index = _subgraph_index(model, path, signature)
    graph = model.subgraphs[index]
    names = builtin_operator_names(schema)
    operators = []
    for position, op in enumerate(graph.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        kind = names.get(builtin, f"BUILTIN_{builtin}")
        if kind == "CUSTOM" and code.customCode:
            kind = f"CUSTOM:{code.customCode.decode(errors='replace')}"
        operators.append(Operator(position, kind, _ints(op.inputs), _ints(op.outputs)))
    tensors = graph.tensors or []
    return Graph(
        path=path,
        subgraph=index,
        operators=operators,
        names=[(t.name or b"").decode(errors="replace") for t in tensors],
        shapes=[tuple(int(n) for n in (t.shape if t.shape is not None else ())) for t in tensors],
        dtypes=[_DTYPES.get(t.type, "") for t in tensors],
        constant={i for i, t in enumerate(tensors) if _has_data(model, t)},
        inputs=_ints(graph.inputs),
        outputs=_ints(graph.outputs),
    )


def _ints(values) -> tuple[int, ...]:
    return tuple(int(v) for v in (values if values is not None else ()))


def _has_data(model, tensor) -> bool:
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buffer is not None and buffer.data is not None and len(buffer.data) > 0


def cut_op(path: str | Path, op_index: int, signature: str | None = None) -> bytes:
    """A standalone .tflite holding operator ``op_index`` of ``signature``'s subgraph alone.

    Its inputs are the operator's run-time inputs (in the operator's order), its output the
    operator's first output; constant inputs keep their data; the operator keeps its options
    and its code's version. One signature, ``op``, names them ``input_00``... and
    ``output_00`` (tensor names may repeat; the tensors keep theirs).
    """
    return OpCutter(path, signature).cut(op_index)


class OpCutter:
    """Cuts single-op files out of one signature's subgraph (the file is read once)."""

    def __init__(self, path: str | Path, signature: str | None = None) -> None:
        self.path = Path(path)
        self._model = _unpack(self.path)
        self._graph = self._model.subgraphs[_subgraph_index(self._model, self.path, signature)]

    def cut(self, op_index: int) -> bytes:
        """``cut_op``'s file for operator ``op_index``."""
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema

        model, source = self._model, self._graph
        op = copy.deepcopy(source.operators[op_index])
        used = [t for t in (*_ints(op.inputs), *_ints(op.outputs)) if t >= 0]
        used += [t for t in _ints(op.intermediates) if t >= 0]
        remap = {old: new for new, old in enumerate(dict.fromkeys(used))}
        buffers = [schema.BufferT()]  # buffer 0: the empty buffer every file starts with
        tensors = []
        for old in remap:
            tensor = copy.copy(source.tensors[old])
            tensor.buffer = 0
            if _has_data(model, source.tensors[old]):
                buffer = schema.BufferT()
                buffer.data = model.buffers[source.tensors[old].buffer].data
                buffers.append(buffer)
                tensor.buffer = len(buffers) - 1
            tensors.append(tensor)
        variable = [
            t for t in _ints(op.inputs) if t >= 0 and not _has_data(model, source.tensors[t])
        ]
        output = _ints(op.outputs)[0]
        code = copy.deepcopy(model.operatorCodes[op.opcodeIndex])
        op.opcodeIndex = 0
        op.inputs = [remap[t] if t >= 0 else -1 for t in _ints(op.inputs)]
        op.outputs = [remap[t] for t in _ints(op.outputs)]
        if op.intermediates is not None:
            op.intermediates = [remap[t] for t in _ints(op.intermediates) if t >= 0]

        subgraph = schema.SubGraphT()
        subgraph.tensors, subgraph.operators = tensors, [op]
        subgraph.inputs = [remap[t] for t in dict.fromkeys(variable)]
        subgraph.outputs = [remap[output]]
        subgraph.name = b"op"
        one = schema.ModelT()
        one.version = model.version
        one.description = b"one operator cut out by signbart-parity"
        one.operatorCodes, one.subgraphs, one.buffers = [code], [subgraph], buffers
        one.signatureDefs = [_signature(schema, subgraph.inputs, subgraph.outputs)]
        builder = flatbuffers.Builder(1024)
        builder.Finish(one.Pack(builder), file_identifier=_IDENTIFIER)
        return bytes(builder.Output())


def _signature(schema, inputs, outputs):
    # Names by position (tensor names may repeat): a runner lists them sorted.
    def tensor_map(index: int, name: str):
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = name, index
        return entry

    definition = schema.SignatureDefT()
    definition.signatureKey = ONE_OP_SIGNATURE
    definition.subgraphIndex = 0
    definition.inputs = [tensor_map(t, f"input_{i:02d}") for i, t in enumerate(inputs)]
    definition.outputs = [tensor_map(t, f"output_{i:02d}") for i, t in enumerate(outputs)]
    return definition

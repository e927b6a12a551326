"""Rewrite a .tflite flatbuffer: share what a bundle's signatures have in common
(``compact``), or set one of its metadata entries (``set_metadata``).

litert-torch stores a bundle's weights once, but each signature (subgraph) carries its own
tensor table. Two things in those tables are repeated per signature, and dominate a
quantized bundle (measured on the 4-bucket default bundle, dynamic-int8: 1.90 MB against
1.02 MB for the single seq_len-64 file):

- the per-channel quantization parameters of every shared weight (float32 scales and int64
  zero points, 59 KB per signature): ai-edge-quantizer writes one copy per subgraph, though
  the int8 data they describe is one buffer;
- tensor names (120 KB per signature): litert-torch names each tensor after its full module
  path ("signbart_parity.export.convert...LogitsOnly/signbart_parity.model.signbart.SignBart_inner/
  signbart_parity.model.signbart.Encoder_encoder/.../torch.nn.modules.linear.Linear_fc1;").

``compact`` re-serialises the file with every identical vector and string written once (a
flatbuffer may point many tables at one vector), external buffers moved back inline, and
names without their Python package paths ("SignBart_inner/Encoder_encoder/.../Linear_fc1;").
``set_metadata`` re-serialises it with one ``Model.metadata`` entry (name -> buffer) added
or replaced, and nothing else changed but external buffers moved inline (a compacted
bundle stays compacted). Either way
weights, operators and signatures are untouched: the file computes bit-identical outputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from signbart_parity.fileio import atomic_path

_IDENTIFIER = b"TFL3"
# "package.module." before a class name, and the wrapper module the converter names first.
_QUALIFIER = re.compile(rb"(?<![\w.])(?:[a-z_]\w*\.)+(?=[A-Z<])")
_WRAPPER = re.compile(rb"^[^/]*LogitsOnly/")
_ALIGNMENT = 16  # tensor data, as the converter aligns it


def short_name(name: bytes) -> bytes:
    return _QUALIFIER.sub(b"", _WRAPPER.sub(b"", name))


def compact(path: str | Path) -> None:
    """Rewrite ``path`` in place (atomically) with shared vectors and short tensor names."""

    def shorten(model) -> None:
        for subgraph in model.subgraphs:
            for tensor in subgraph.tensors:
                if tensor.name:
                    tensor.name = short_name(tensor.name)

    rewrite(path, shorten, share=True)


def set_metadata(path: str | Path, name: str, data: bytes) -> None:
    """Rewrite ``path`` in place (atomically) with the metadata entry ``name`` holding
    ``data``: replaced if the file has it (the quantizer copies its source's), else added."""
    from ai_edge_litert import schema_py_generated as schema

    def put(model) -> None:
        payload = np.frombuffer(data, dtype=np.uint8)
        model.metadata = model.metadata or []
        for entry in model.metadata:
            if entry.name == name.encode():
                model.buffers[entry.buffer].data = payload
                return
        buffer = schema.BufferT()
        buffer.data = payload
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = name, len(model.buffers) - 1
        model.metadata.append(entry)

    rewrite(path, put, share=None)


def rewrite(path: str | Path, edit: Callable[[object], None], *, share: bool | None) -> None:
    """Unpack ``path`` (external buffers moved inline), ``edit`` its ``ModelT`` and write it
    back atomically, tensor data aligned as the converter aligns it. ``share`` writes each
    distinct vector and string once; None keeps the file's layout: shared when it holds
    several signatures (``compact`` wrote it), as the converter wrote it otherwise."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    path = Path(path)
    raw = path.read_bytes()
    model = schema.ModelT.InitFromPackedBuf(bytearray(raw), 0)
    for buffer in model.buffers:
        if buffer.offset:  # stored after the flatbuffer; offsets change when it is rewritten
            end = buffer.offset + buffer.size
            buffer.data = np.frombuffer(raw[buffer.offset : end], dtype=np.uint8)
            buffer.offset, buffer.size = 0, 0
    edit(model)
    if share is None:
        share = len(model.subgraphs) > 1

    class AligningBuilder(flatbuffers.Builder):
        """Aligns byte vectors (tensor data); with ``share``, writes each distinct vector
        and string once and points every user at it."""

        def __init__(self, size: int) -> None:
            super().__init__(size)
            self._written: dict[tuple, int] = {}

        def CreateString(self, text, encoding="utf-8", errors="strict"):  # noqa: N802
            data = text.encode(encoding, errors) if isinstance(text, str) else bytes(text)
            write = lambda: super(AligningBuilder, self).CreateString(data)  # noqa: E731
            return self._once(("str", data), write) if share else write()

        def CreateNumpyVector(self, array):  # noqa: N802
            key = (array.dtype.str, array.shape, array.tobytes())
            return self._once(key, lambda: self._vector(array)) if share else self._vector(array)

        def _once(self, key, write):
            if key not in self._written:
                self._written[key] = write()
            return self._written[key]

        def _vector(self, array: np.ndarray) -> int:
            if array.dtype != np.uint8:
                return super().CreateNumpyVector(array)
            payload = array.tobytes()
            self.StartVector(1, len(payload), _ALIGNMENT)
            self.head -= len(payload)
            self.Bytes[self.head : self.head + len(payload)] = payload
            self.vectorNumElems = len(payload)
            return self.EndVector()

    builder = AligningBuilder(len(raw))
    builder.Finish(model.Pack(builder), file_identifier=_IDENTIFIER)
    with atomic_path(path) as temp:
        temp.write_bytes(bytes(builder.Output()))

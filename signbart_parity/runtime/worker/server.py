"""The out-of-process runtime worker: runs .tflite files in a pinned runtime build.

Started as ``python -P -s worker_main.py ENTRY`` (the runtime kind's registry entry as
JSON, ``RuntimeKind.worker_entry``) by the isolated environment's Python
(``runtime/provision/venvs.py``), where this project is not installed: it imports only the standard
library, numpy (1.x or 2.x) and the runtime package, and loads ``backends.py`` beside it by
file path, so a file runs through the same code in process and here.

Protocol (``runtime/worker/client.py`` is the client), over stdin and stdout: a message is one
frame holding a JSON header, whose ``arrays`` lists the dtype and shape of each array sent
next, one frame each, as raw little-endian bytes (nothing is ever unpickled); a frame is an
8-byte little-endian length and that many bytes. Every request gets one reply:
``{"ok": true, ...}`` or ``{"ok": false, "type": "...", "error": "..."}``. The runtime's
own prints go to stderr: file descriptor 1 is pointed at 2 before the runtime is imported,
and the protocol uses a saved copy of the original stdout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import struct
import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np

_LENGTH = struct.Struct("<Q")


# ---------------------------------------------------------------- framing (shared)


def write_message(stream: BinaryIO, header: dict, arrays=()) -> None:
    """Send ``header`` and ``arrays`` as one message."""
    arrays = [np.ascontiguousarray(array) for array in arrays]
    layout = [{"dtype": _little_endian(a.dtype).str, "shape": list(a.shape)} for a in arrays]
    _write_frame(stream, json.dumps({**header, "arrays": layout}).encode("utf-8"))
    for array in arrays:
        _write_frame(stream, array.astype(_little_endian(array.dtype), copy=False).tobytes())
    stream.flush()


def read_message(stream: BinaryIO) -> tuple[dict, list[np.ndarray]]:
    """The next message; EOFError when the other side has gone."""
    header = json.loads(_read_frame(stream).decode("utf-8"))
    arrays = [
        np.frombuffer(_read_frame(stream), dtype=np.dtype(layout["dtype"])).reshape(layout["shape"])
        for layout in header.pop("arrays", [])
    ]
    return header, arrays


def _little_endian(dtype: np.dtype) -> np.dtype:
    if dtype.kind not in "biufc":  # objects, strings, structured: nothing a runtime takes
        raise ValueError(f"cannot send a {dtype} array to or from the worker")
    return dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype


def _write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)


def _read_frame(stream: BinaryIO) -> bytes:
    (length,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
    return _read_exactly(stream, length)


def _read_exactly(stream: BinaryIO, count: int) -> bytearray:
    """``count`` bytes, in a writable buffer (arrays read from it are writable too)."""
    buffer = bytearray(count)
    view, filled = memoryview(buffer), 0
    while filled < count:
        got = stream.readinto(view[filled:])
        if not got:
            raise EOFError("the other side closed the channel")
        filled += got
    return buffer


def plain_details(details: list[dict]) -> list[dict]:
    """Tensor details as JSON: name, shape, dtype name, (scale, zero point), index, key."""
    return [
        {
            "name": detail["name"],
            "shape": [int(n) for n in detail["shape"]],
            "dtype": np.dtype(detail["dtype"]).name,
            "quantization": [float(q) for q in detail.get("quantization", (0.0, 0))],
            "index": int(detail.get("index", -1)),
            "key": detail.get("key", ""),
        }
        for detail in details
    ]


# ---------------------------------------------------------------- the worker


def _load_backends():
    path = Path(__file__).parent.parent / "run" / "backends.py"
    spec = importlib.util.spec_from_file_location("signbart_parity_backends", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Worker:
    def __init__(self, entry: dict) -> None:
        self.entry = entry
        self.backends = _load_backends()
        self.models: dict[int, object] = {}
        self.next_handle = 1

    def hello(self, request: dict, arrays: list) -> tuple[dict, list]:
        self.backends.interpreter_api(self.entry)  # imports the runtime: fails here if broken
        return {
            "runtime": self.entry["name"],
            "version": self.backends.runtime_version(self.entry),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "numpy": np.__version__,
        }, []

    def load(self, request: dict, arrays: list) -> tuple[dict, list]:
        backend_class = self.backends.backend_class(self.entry)
        model = backend_class(
            Path(request["path"]), self.entry, request["num_threads"], request["xnnpack"]
        )
        handle, self.next_handle = self.next_handle, self.next_handle + 1
        self.models[handle] = model
        return {"handle": handle, "signature_names": model.signature_names}, []

    def open(self, request: dict, arrays: list) -> tuple[dict, list]:
        inputs, outputs = self.models[request["handle"]].open(request["key"])
        return {"inputs": plain_details(inputs), "outputs": plain_details(outputs)}, []

    def run(self, request: dict, arrays: list) -> tuple[dict, list]:
        return {}, [np.asarray(self.models[request["handle"]].run(arrays))]

    def time(self, request: dict, arrays: list) -> tuple[dict, list]:
        model = self.models[request["handle"]]
        median, p90 = self.backends.measure(
            lambda: model.run(arrays), request["iterations"], request["warmup"]
        )
        return {"median_ms": median, "p90_ms": p90}, []

    def close(self, request: dict, arrays: list) -> tuple[dict, list]:
        self.models.pop(request["handle"], None)
        return {}, []

    def intermediates(self, request: dict, arrays: list) -> tuple[dict, list]:
        keypoints, mask = arrays
        tensors = self.backends.intermediates(
            request["path"], keypoints, mask, self.entry, request["signature"]
        )
        return {"names": [name for name, _ in tensors]}, [value for _, value in tensors]

    def tensor_dtypes(self, request: dict, arrays: list) -> tuple[dict, list]:
        return {"dtypes": sorted(self.backends.tensor_dtypes(request["path"], self.entry))}, []

    def abort(self, request: dict, arrays: list) -> tuple[dict, list]:
        os.abort()  # what a crashing runtime does; the client's crash handling is tested on it

    def handle(self, request: dict, arrays: list) -> tuple[dict, list]:
        operation = request.get("op")
        if operation not in _OPERATIONS:
            raise ValueError(f"unknown request {operation!r}")
        return getattr(self, operation)(request, arrays)


_OPERATIONS = (
    "hello", "load", "open", "run", "time", "close", "intermediates", "tensor_dtypes", "abort"
)  # fmt: skip


def _error_type(exc: Exception, backends) -> str:
    if isinstance(exc, backends.NoInt64):
        return "NoInt64"
    return "ValueError" if isinstance(exc, ValueError) else "RuntimeError"


def serve(entry: dict) -> None:
    # The protocol keeps the original stdout; everything else printing to fd 1 (the
    # runtime's notices, a stray print) lands on stderr instead.
    channel_out = os.fdopen(os.dup(1), "wb")
    channel_in = os.fdopen(os.dup(0), "rb")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = sys.stderr
    worker = Worker(entry)
    while True:
        try:
            request, arrays = read_message(channel_in)
        except EOFError:
            return
        if request.get("op") == "exit":
            return
        try:
            header, results = worker.handle(request, arrays)
        except Exception as exc:  # the runtime's refusal goes back to the client as data
            error = {"ok": False, "type": _error_type(exc, worker.backends), "error": str(exc)}
            write_message(channel_out, error)
            continue
        write_message(channel_out, {"ok": True, **header}, results)


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))

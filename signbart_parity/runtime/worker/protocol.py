"""The one protocol between the harness (``client.py``) and a worker (``server.py``).

Both sides use this module: the client imports it, the worker loads it by file path (it
runs where this project is not installed), so it imports only the standard library and
numpy.

Over the worker's stdin and stdout, a message is one frame holding a JSON header, whose
``arrays`` lists the dtype and shape of each array sent next, one frame each, as raw
little-endian bytes (nothing is ever unpickled); a frame is an 8-byte little-endian length
and that many bytes. A request's header names its operation (``Op``) under ``op``; every
request but ``exit`` gets one reply: ``{"ok": true, ...}`` or ``{"ok": false, "code":
ErrorCode, "error": "..."}``.
"""

from __future__ import annotations

import enum
import json
import struct
from typing import BinaryIO

import numpy as np

_LENGTH = struct.Struct("<Q")


class Op(enum.StrEnum):
    """What a request asks the worker to do."""

    HELLO = "hello"  # import the runtime; reply with its version, python, machine
    LOAD = "load"  # load a file; reply with a handle and its signature names
    OPEN = "open"  # open one signature of a loaded file; reply with its tensor details
    RUN = "run"  # run the open signature on the arrays sent; reply with its output
    TIME = "time"  # time that run inside the worker; reply with median and p90 ms
    CLOSE = "close"  # forget a loaded file (its handle)
    INTERMEDIATES = "intermediates"  # every float tensor of one invocation of a file
    TENSOR_VALUES = "tensor_values"  # the tensors asked for (by index) of one invocation
    TENSOR_DTYPES = "tensor_dtypes"  # the dtypes of a file's tensors
    EXIT = "exit"  # end the worker (no reply)


class ErrorCode(enum.StrEnum):
    """Why the runtime refused a request: the same code names the same failure on both
    sides (the worker sends it, the client raises the matching exception)."""

    REFUSED = "refused"  # the runtime rejected the input (its ValueError)
    FAILED = "failed"  # the runtime failed running it (any other exception)
    NO_INT64 = "no-int64"  # LiteRT's TensorBuffer writes no int64 data (backends.NoInt64)


def error_reply(exc: Exception, no_int64: type[Exception]) -> dict:
    """The reply that carries ``exc`` to the client."""
    if isinstance(exc, no_int64):
        code = ErrorCode.NO_INT64
    else:
        code = ErrorCode.REFUSED if isinstance(exc, ValueError) else ErrorCode.FAILED
    return {"ok": False, "code": code.value, "error": str(exc)}


def refusal(reply: dict, no_int64: type[Exception]) -> Exception:
    """The exception a refusal ``reply`` stands for (the inverse of ``error_reply``)."""
    message = reply.get("error") or "no reason given"
    code = reply.get("code")
    if code == ErrorCode.NO_INT64.value:
        return no_int64(message)
    return ValueError(message) if code == ErrorCode.REFUSED.value else RuntimeError(message)


def request(op: Op, **fields) -> dict:
    """A request header."""
    return {"op": op.value, **fields}


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

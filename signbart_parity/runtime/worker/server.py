"""The out-of-process runtime worker: runs .tflite files in a pinned runtime build.

Started as ``python -P -s server.py ENTRY`` (the runtime kind's registry entry as JSON,
``RuntimeKind.worker_entry``) by the isolated environment's Python
(``runtime/provision/venvs.py``), where this project is not installed: it imports only the
standard library and numpy (1.x or 2.x) and, through the backends, the runtime package; it
loads ``protocol.py`` beside it and ``runtime/run/backends.py`` by file path, so a file runs
through the same code in process and here.

A kind on an accelerator (``compiled==2.3.0@gpu``) gets the accelerator's data in its entry
(``entry["accelerator"]``: e.g. fp32 enforced, the variables its drivers read); loading a
file there replies with whether it was fully accelerated and what the accelerator logged
(its device, its partition, its refusals), which the harness reads.

It answers each request of ``protocol.py`` in turn. The runtime's own prints go to stderr:
file descriptor 1 is pointed at 2 before the runtime is imported, and the protocol uses a
saved copy of the original stdout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

_HERE = Path(__file__).parent


def _load(path: Path, name: str):
    """A module of this project by file path (it is not installed where the worker runs)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and enums look their module up by name
    spec.loader.exec_module(module)
    return module


protocol = _load(_HERE / "protocol.py", "signbart_parity_worker_protocol")
Op = protocol.Op


class Worker:
    def __init__(self, entry: dict) -> None:
        self.entry = entry
        self.backends = _load(_HERE.parent / "run" / "backends.py", "signbart_parity_backends")
        self.models: dict[int, object] = {}
        self.next_handle = 1
        self._operations = {
            Op.HELLO: self.hello,
            Op.LOAD: self.load,
            Op.OPEN: self.open,
            Op.RUN: self.run,
            Op.TIME: self.time,
            Op.CLOSE: self.close,
            Op.INTERMEDIATES: self.intermediates,
            Op.TENSOR_VALUES: self.tensor_values,
            Op.TENSOR_DTYPES: self.tensor_dtypes,
        }

    def hello(self, request: dict, arrays: list) -> tuple[dict, list]:
        self.backends.interpreter_api(self.entry)  # imports the runtime: fails here if broken
        return {
            "runtime": self.entry["name"],
            "version": self.backends.runtime_version(self.entry),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "numpy": np.__version__,
            "models": len(self.models),  # files loaded and not yet closed
        }, []

    def load(self, request: dict, arrays: list) -> tuple[dict, list]:
        backend_class = self.backends.backend_class(self.entry)
        log: list[str] = []
        try:
            with _stderr_copied(log, self.entry.get("accelerator") is not None):
                model = backend_class(
                    Path(request["path"]), self.entry, request["num_threads"], request["xnnpack"]
                )
        except Exception as exc:
            if not log:
                raise
            # The accelerator's own reason is in its log, not in the exception.
            kind = ValueError if isinstance(exc, ValueError) else RuntimeError
            raise kind(f"{exc}\n{log[0]}".strip()) from None
        handle, self.next_handle = self.next_handle, self.next_handle + 1
        self.models[handle] = model
        reply = {"handle": handle, "signature_names": model.signature_names}
        if self.entry.get("accelerator") is not None:  # what the accelerator did, its log
            reply["accelerator"] = {"fully_accelerated": model.fully_accelerated(), "log": log[0]}
        return reply, []

    def open(self, request: dict, arrays: list) -> tuple[dict, list]:
        inputs, outputs = self.models[request["handle"]].open(request["key"])
        plain = protocol.plain_details
        return {"inputs": plain(inputs), "outputs": plain(outputs)}, []

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

    def tensor_values(self, request: dict, arrays: list) -> tuple[dict, list]:
        keypoints, mask = arrays
        found, values = self.backends.tensor_values(
            request["path"], keypoints, mask, self.entry, request["signature"], request["indices"]
        )
        return {"indices": found}, values

    def tensor_dtypes(self, request: dict, arrays: list) -> tuple[dict, list]:
        return {"dtypes": sorted(self.backends.tensor_dtypes(request["path"], self.entry))}, []

    def handle(self, request: dict, arrays: list) -> tuple[dict, list]:
        try:
            operation = self._operations[Op(request.get("op"))]
        except (ValueError, KeyError):
            raise ValueError(f"unknown request {request.get('op')!r}") from None
        return operation(request, arrays)


@contextlib.contextmanager
def _stderr_copied(into: list[str], wanted: bool):
    """What native code writes to stderr (fd 2) inside the block, appended to ``into`` and
    written back to fd 2 after it (an accelerator names its device and its refusals there)."""
    if not wanted:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as copy:
        os.dup2(copy.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            copy.seek(0)
            text = memoryview(copy.read())
            into.append(bytes(text).decode("utf-8", errors="replace"))
            while text:  # a pipe may take part of it per call
                text = text[os.write(2, text) :]


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
            request, arrays = protocol.read_message(channel_in)
        except EOFError:
            return
        if request.get("op") == Op.EXIT.value:
            return
        try:
            header, results = worker.handle(request, arrays)
        except Exception as exc:  # the runtime's refusal goes back to the client as data
            error = protocol.error_reply(exc, worker.backends.NoInt64)
            protocol.write_message(channel_out, error)
            continue
        protocol.write_message(channel_out, {"ok": True, **header}, results)


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))

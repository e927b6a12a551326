"""Running a file in a pinned runtime build, out of process (the client of ``server.py``).

One worker process per runtime spec per harness process, started on first use, reused for
every file, closed at exit. ``WorkerBackend`` fits ``runtime/run/tflite.py``'s backend
protocol, so ``TFLiteModel(path, runtime="tflite-runtime==2.14.0")`` runs the file there.

A runtime that dies (a segfault or abort in its kernels) or hangs (no answer within
``call_timeout`` seconds, then it is killed) is a finding, not a harness failure: the call
raises ``RuntimeCrashed`` naming the spec, the signal or the wait, and the file, and the
next call starts a fresh worker. A file's model is closed in the worker when its backend is
dropped (sent before the next request).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import threading
import weakref
from pathlib import Path

import numpy as np

from signbart_parity.errors import RuntimeCrashed, RuntimeEnvironmentError
from signbart_parity.quiet import toolchain_quieted
from signbart_parity.runtime.provision.venvs import worker_environment
from signbart_parity.runtime.run.backends import WARMUP, NoInt64
from signbart_parity.runtime.worker.protocol import (
    Op,
    read_message,
    refusal,
    request,
    write_message,
)
from signbart_parity.runtime_specs import RuntimeSpec, parse_runtime_spec

WORKER_SCRIPT = Path(__file__).with_name("server.py")
_EXIT_WAIT = 5.0  # seconds a worker gets to exit before it is killed
# Seconds one call may take before the runtime is taken as hung and killed: generous, a
# bench's timing call runs hundreds of inferences, and an emulated CPU is ~50x slower.
TIMEOUT_VARIABLE = "SIGNBART_PARITY_CALL_TIMEOUT"
CALL_TIMEOUT = 600.0
EMULATED_CALL_TIMEOUT = 3600.0


def call_timeout(spec: RuntimeSpec) -> float:
    """Seconds one call to ``spec``'s worker may take ($SIGNBART_PARITY_CALL_TIMEOUT)."""
    given = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if given:
        try:
            return float(given)
        except ValueError:
            raise RuntimeEnvironmentError(
                f"${TIMEOUT_VARIABLE} is {given!r}; set it to a number of seconds."
            ) from None
    return EMULATED_CALL_TIMEOUT if spec.arch else CALL_TIMEOUT


class WorkerProcess:
    """One running worker for one spec."""

    def __init__(self, spec: RuntimeSpec, cache_root: Path | None = None) -> None:
        self.spec = spec
        self.call_timeout = call_timeout(spec)
        self._hung = False
        self._to_close: list[int] = []  # handles of dropped models, closed before the next call
        environment = worker_environment(spec, cache_root)
        entry = json.dumps(worker_entry(spec))
        # The runtime's stderr chatter is dropped when the toolchain is quieted (the CLI
        # without --verbose); otherwise it shows, as in-process runtimes' does.
        # -P: the script's folder (runtime/, with its own inspect.py) is not put on
        # sys.path; -s: no user site. Only the environment's own PYTHONPATH (the aarch64
        # site folder) reaches the worker, never the harness's, nor a PYTHONHOME.
        child_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        self._process = subprocess.Popen(
            [*environment.command, "-P", "-s", str(WORKER_SCRIPT), entry],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if toolchain_quieted() else None,
            env={**child_env, **environment.env},
        )
        try:
            hello, _ = self.request(request(Op.HELLO), doing="starting", path=None)
        except (ValueError, RuntimeError) as exc:  # the runtime does not even import
            self.close()
            raise RuntimeEnvironmentError(_broken(spec, str(exc))) from None
        self.build = {
            **environment.description,
            "version": hello["version"],
            "arch": hello["machine"],
            "python": hello["python"],
        }
        if spec.version and hello["version"] != spec.version:
            self.close()
            raise RuntimeEnvironmentError(_broken(spec, f"it imports {hello['version']}"))

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def request(
        self, header: dict, arrays=(), *, doing: str, path: Path | str | None
    ) -> tuple[dict, list[np.ndarray]]:
        """Send one request; its reply, or the runtime's refusal raised as an exception."""
        while self._to_close:  # models dropped since the last call
            handle = self._to_close.pop()
            self._exchange(request(Op.CLOSE, handle=handle), (), "closing a model", None)
        reply, results = self._exchange(header, arrays, doing, path)
        if not reply.pop("ok"):
            raise refusal(reply, NoInt64)
        return reply, results

    def _exchange(self, header: dict, arrays, doing: str, path) -> tuple[dict, list]:
        """One request and its reply; the worker is killed when none comes in time."""
        timer = threading.Timer(self.call_timeout, self._stop_hung)
        timer.daemon = True
        timer.start()
        try:
            write_message(self._process.stdin, header, arrays)
            return read_message(self._process.stdout)
        except (EOFError, BrokenPipeError, OSError):
            raise self._crashed(doing, path) from None
        finally:
            timer.cancel()

    def _stop_hung(self) -> None:
        self._hung = True
        self._process.kill()

    def close_later(self, handle: int) -> None:
        """Close a model at the next request (a dropped backend may go at any moment,
        even in the middle of another request)."""
        if self.alive:
            self._to_close.append(handle)

    def _crashed(self, doing: str, path: Path | str | None) -> RuntimeCrashed:
        _forget(self)
        try:
            code = self._process.wait(timeout=_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
        what = f" {path}" if path is not None else ""
        if self._hung:
            return RuntimeCrashed(
                f"the {self.spec} runtime hung {doing}{what} (no answer within "
                f"{self.call_timeout:g} s, ${TIMEOUT_VARIABLE}; stopped): a fault inside that "
                "runtime build (a finding about the build, not a harness error)."
            )
        return RuntimeCrashed(
            f"the {self.spec} runtime crashed ({_how(code)}) {doing}{what}: a fault inside "
            "that runtime build (a finding about the build, not a harness error)."
        )

    def close(self) -> None:
        if self.alive:
            try:
                write_message(self._process.stdin, request(Op.EXIT))
                self._process.stdin.close()
                self._process.wait(timeout=_EXIT_WAIT)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()

    @property
    def pid(self) -> int:
        return self._process.pid


def worker_entry(spec: RuntimeSpec) -> dict:
    """What the worker of ``spec`` is started with: its kind's registry entry and, on an
    accelerator, that entry's data and what its ``worker_setup`` readied on this machine."""
    entry = spec.worker_entry()
    accelerator = spec.on_accelerator
    if accelerator is not None and accelerator.worker_setup:
        import importlib

        module, name = accelerator.worker_setup.split(":")
        entry["accelerator"] |= getattr(importlib.import_module(module), name)(spec)
    return entry


def _broken(spec: RuntimeSpec, reason: str) -> str:
    return (
        f"the {spec} runtime environment is broken ({reason}); delete its folder (see "
        f"`signbart-parity runtimes list`) and run `signbart-parity runtimes prepare {spec}`."
    )


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"signal {-code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


# ---------------------------------------------------------------- one worker per spec

_WORKERS: dict[str, WorkerProcess] = {}
_CLOSED_AT_EXIT = []


def worker_for(runtime: str | RuntimeSpec) -> WorkerProcess:
    """The running worker of ``runtime`` (a spec or its text), started when there is none."""
    spec = runtime if isinstance(runtime, RuntimeSpec) else parse_runtime_spec(runtime)
    worker = _WORKERS.get(str(spec))
    if worker is None or not worker.alive:
        if not _CLOSED_AT_EXIT:
            _CLOSED_AT_EXIT.append(atexit.register(close_workers))
        worker = WorkerProcess(spec)
        _WORKERS[str(spec)] = worker
    return worker


def _forget(worker: WorkerProcess) -> None:
    if _WORKERS.get(str(worker.spec)) is worker:
        del _WORKERS[str(worker.spec)]


def close_workers() -> None:
    """Stop every worker this process started."""
    for worker in list(_WORKERS.values()):
        worker.close()
    _WORKERS.clear()


# ---------------------------------------------------------------- the backend


class WorkerBackend:
    """``runtime/run/tflite.py``'s backend protocol, served by a worker process."""

    def __init__(self, path: Path, runtime: str, num_threads: int | None, xnnpack: bool):
        self._path, self._runtime = Path(path), runtime
        self._options = {"num_threads": num_threads, "xnnpack": xnnpack}
        self._key: str | None = None
        self._opened = False
        self._load()

    def _load(self) -> None:
        self._worker = worker_for(self._runtime)
        reply, _ = self._request(request(Op.LOAD, path=str(self._path), **self._options), "loading")
        self._handle = reply["handle"]
        self._closed = weakref.finalize(self, self._worker.close_later, self._handle)
        self.signature_names = reply["signature_names"]
        self.build = dict(self._worker.build)
        self.accelerator = reply.get("accelerator")  # what it did and logged, on one

    def _request(self, header: dict, doing: str, arrays=()) -> tuple[dict, list]:
        return self._worker.request(header, arrays, doing=doing, path=self._path)

    def _current(self) -> None:
        """After a crash, load the file again in the fresh worker."""
        if self._worker.alive and worker_for(self._runtime) is self._worker:
            return
        self._load()
        if self._opened:
            self.open(self._key)

    def open(self, key: str | None) -> tuple[list[dict], list[dict]]:
        reply, _ = self._request(request(Op.OPEN, handle=self._handle, key=key), "loading")
        self._key, self._opened = key, True
        return reply["inputs"], reply["outputs"]

    def run(self, feeds: list[np.ndarray]) -> np.ndarray:
        self._current()
        _, (output,) = self._request(request(Op.RUN, handle=self._handle), "running", feeds)
        return output

    def time(self, feeds: list[np.ndarray], iterations: int, warmup: int = WARMUP):
        """(median, p90) ms of ``run(feeds)``, measured inside the worker."""
        self._current()
        header = request(Op.TIME, handle=self._handle, iterations=iterations, warmup=warmup)
        reply, _ = self._request(header, "timing", feeds)
        return reply["median_ms"], reply["p90_ms"]


def intermediates(
    path: str | Path, keypoints, attention_mask, *, runtime: str, signature: str | None
) -> list[tuple[str, np.ndarray]]:
    """``runtime/read/inspect.py``'s ``intermediates``, computed by ``runtime``'s worker."""
    header = request(Op.INTERMEDIATES, path=str(path), signature=signature)
    arrays = (np.asarray(keypoints), np.asarray(attention_mask))
    reply, tensors = worker_for(runtime).request(header, arrays, doing="running", path=path)
    return list(zip(reply["names"], tensors, strict=True))


def tensor_values(
    path: str | Path, keypoints, attention_mask, *, runtime: str, signature: str | None, indices
) -> dict[int, np.ndarray]:
    """``runtime/read/inspect.py``'s ``tensor_values``, computed by ``runtime``'s worker."""
    header = request(
        Op.TENSOR_VALUES, path=str(path), signature=signature, indices=[int(i) for i in indices]
    )
    arrays = (np.asarray(keypoints), np.asarray(attention_mask))
    reply, values = worker_for(runtime).request(header, arrays, doing="running", path=path)
    return dict(zip(reply["indices"], values, strict=True))


def tensor_dtypes(path: str | Path, runtime: str) -> set[str]:
    """``runtime/read/inspect.py``'s ``tensor_dtypes``, read by ``runtime``'s worker."""
    header = request(Op.TENSOR_DTYPES, path=str(path))
    try:
        reply, _ = worker_for(runtime).request(header, doing="loading", path=path)
    except (ValueError, RuntimeError):
        return set()
    return set(reply["dtypes"])

"""The TFLite runtimes' own APIs, wrapped to one shape: load a file, open a signature, run it,
read its intermediate tensors.

This module imports only the standard library, numpy and the runtime package itself: the
out-of-process worker (``runtime/worker/server.py``) loads it by file path inside an isolated
environment where this project is not installed, so the same code runs a file in process
and in a pinned runtime build (ai-edge-litert 1.x, tflite-runtime 2.14, an old TensorFlow).

Nothing here names a runtime kind: each function takes the kind's registry entry as plain
data (``RuntimeKind.worker_entry()``: its runner class, the module of its Interpreter, its
package names), which the worker receives on its command line.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

WARMUP = 5  # calls before a latency is measured


class NoInt64(Exception):
    """LiteRT's TensorBuffer (Python and Kotlin) writes no int64 data."""


def interpreter_api(entry: dict):
    """(Interpreter class, the op resolver type that applies no delegate) of a runtime kind
    (its registry entry): the ``Interpreter`` of its module, or TensorFlow's ``tf.lite``."""
    module = importlib.import_module(entry["interpreter"])
    if hasattr(module, "Interpreter"):
        interpreter, resolver = module.Interpreter, module.OpResolverType
    else:  # tensorflow: tf.lite.Interpreter
        interpreter, resolver = module.lite.Interpreter, module.lite.experimental.OpResolverType
    return interpreter, resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def runtime_version(entry: dict) -> str:
    """The version of the runtime package this process imports for a kind."""
    from importlib import metadata

    for name in entry["distributions"]:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


class InterpreterBackend:
    """An Interpreter (litert, tflite-runtime or tensorflow), through a signature runner."""

    def __init__(self, path: Path, entry: dict, num_threads: int | None, xnnpack: bool):
        interpreter_class, no_delegates = interpreter_api(entry)
        # XNNPACK is the default delegate; the plain builtin kernels run without it.
        options = {} if xnnpack else {"experimental_op_resolver_type": no_delegates}
        self._interpreter = interpreter_class(
            model_path=str(path), num_threads=num_threads, **options
        )
        self.signature_names = list(self._interpreter.get_signature_list())

    def open(self, key: str | None) -> tuple[list[dict], list[dict]]:
        interpreter = self._interpreter
        if key is None:  # a file without signature defs: its primary subgraph
            interpreter.allocate_tensors()
            inputs = sorted(interpreter.get_input_details(), key=lambda d: d["index"])
            outputs = interpreter.get_output_details()
            self._run = self._run_primary
        else:
            runner = interpreter.get_signature_runner(key)
            order = interpreter.get_signature_list()[key]
            details = runner.get_input_details()
            inputs = [details[name] | {"key": name} for name in order["inputs"]]
            out_details = runner.get_output_details()
            outputs = [out_details[name] | {"key": name} for name in order["outputs"]]
            self._runner = runner
            self._input_keys = [detail["key"] for detail in inputs]
            self._output_key = outputs[0]["key"]
            self._run = self._run_signature
        self._inputs, self._outputs = inputs, outputs
        return inputs, outputs

    def run(self, feeds: list[np.ndarray]) -> np.ndarray:
        return self._run(feeds)

    def _run_signature(self, feeds: list[np.ndarray]) -> np.ndarray:
        result = self._runner(**dict(zip(self._input_keys, feeds, strict=True)))
        return result[self._output_key]

    def _run_primary(self, feeds: list[np.ndarray]) -> np.ndarray:
        for detail, value in zip(self._inputs, feeds, strict=True):
            self._interpreter.set_tensor(detail["index"], value)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._outputs[0]["index"])


class CompiledBackend:
    """ai_edge_litert's CompiledModel on the CPU (it always uses XNNPACK there), or on an
    accelerator its registry entry names: ``entry["accelerator"]``, plain data such as
    ``{"name": "gpu", "enforce_f32": True, "environment": {...}}`` (the GPU accelerator, the
    CPU taking what it cannot; ``environment``: variables its drivers read, set unless the
    caller set them)."""

    def __init__(self, path: Path, entry: dict, num_threads: int | None, xnnpack: bool):
        from ai_edge_litert.compiled_model import CompiledModel

        if not xnnpack:
            raise ValueError("the compiled runtime always runs XNNPACK on the CPU")
        accelerator = entry.get("accelerator")
        for name, value in (accelerator or {}).get("environment", {}).items():
            os.environ.setdefault(name, value)
        self._model = CompiledModel.from_file(
            str(path),
            environment=shared_environment(),
            options=compiled_options(accelerator, num_threads),
        )
        self.signature_names = list(self._model.get_signature_list())

    def fully_accelerated(self) -> bool:
        """Whether every op went to the accelerator (LiteRT says whether, not which)."""
        return bool(self._model.is_fully_accelerated())

    def open(self, key: str | None) -> tuple[list[dict], list[dict]]:
        if key is None:
            raise ValueError("the compiled runtime runs signatures; this file declares none")
        model = self._model
        order = model.get_signature_list()[key]
        details = model.get_input_tensor_details(key)
        inputs = [details[name] | {"key": name} for name in order["inputs"]]
        out_details = model.get_output_tensor_details(key)
        outputs = [out_details[name] | {"key": name} for name in order["outputs"]]
        index = model.get_signature_index(key)
        self._index = index
        self._input_buffers = model.create_input_buffers(index)
        self._output_buffers = model.create_output_buffers(index)
        self._output = outputs[0]
        wide = [d["key"] for d in inputs if np.dtype(d["dtype"]) == np.int64]
        if wide:
            raise NoInt64(f"{wide[0]} is int64")
        return inputs, outputs

    def run(self, feeds: list[np.ndarray]) -> np.ndarray:
        for buffer, value in zip(self._input_buffers, feeds, strict=True):
            buffer.write(value)
        self._model.run_by_index(self._index, self._input_buffers, self._output_buffers)
        shape = tuple(self._output["shape"])
        dtype = np.dtype(self._output["dtype"])
        return self._output_buffers[0].read(int(np.prod(shape)), dtype).reshape(shape)


def compiled_options(accelerator: dict | None, num_threads: int | None):
    """CompiledModel's options: the CPU alone, or the GPU accelerator first (fp32 enforced
    when the accelerator's data asks) and the CPU for the ops it cannot take."""
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import CpuOptions, Options

    cpu = CpuOptions(num_threads=num_threads or 0)  # 0: the runtime's default
    if accelerator is None:
        return Options(hardware_accelerators=HardwareAccelerator.CPU, cpu_options=cpu)
    if accelerator["name"] != "gpu":
        raise ValueError(f"the compiled runtime has no {accelerator['name']!r} accelerator")
    from ai_edge_litert.gpu_options import GpuOptions

    return Options(
        hardware_accelerators=HardwareAccelerator.GPU | HardwareAccelerator.CPU,
        cpu_options=cpu,
        gpu_options=GpuOptions(enforce_f32=bool(accelerator.get("enforce_f32"))),
    )


_ENVIRONMENT = []


def shared_environment():
    """One LiteRT environment per process (set up once; released when the process ends)."""
    if not _ENVIRONMENT:
        import ai_edge_litert
        from ai_edge_litert.environment import Environment

        runtime_path = str(Path(ai_edge_litert.__file__).parent)
        _ENVIRONMENT.append(Environment.create(runtime_path=runtime_path))
    return _ENVIRONMENT[0]


RUNNERS = {"InterpreterBackend": InterpreterBackend, "CompiledBackend": CompiledBackend}


def backend_class(entry: dict):
    """The backend that runs a file in a runtime kind (its registry entry)."""
    return RUNNERS[entry["runner"]]


# ---------------------------------------------------------------- looking inside


def _inspecting_interpreter(path: str | Path, entry: dict, **options):
    # A delegate computes its partitions internally and leaves their tensors unfilled.
    interpreter_class, no_delegates = interpreter_api(entry)
    return interpreter_class(
        model_path=str(path), experimental_op_resolver_type=no_delegates, **options
    )


def _run_preserving(
    path: str | Path, keypoints: np.ndarray, attention_mask: np.ndarray, entry: dict, signature
):
    """(interpreter, subgraph) after one invocation with every tensor preserved and no
    delegate, fed ``keypoints`` (the rank-4 input) and ``attention_mask`` (the rank-2)."""
    interpreter = _inspecting_interpreter(path, entry, experimental_preserve_all_tensors=True)
    names = list(interpreter.get_signature_list())
    key = signature or (names[0] if names else None)
    if key is None:
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            value = keypoints if len(detail["shape"]) == 4 else attention_mask
            interpreter.set_tensor(detail["index"], np.ascontiguousarray(value, detail["dtype"]))
        interpreter.invoke()
        return interpreter, 0
    runner = interpreter.get_signature_runner(key)
    feed = {
        name: np.ascontiguousarray(
            keypoints if len(detail["shape"]) == 4 else attention_mask, detail["dtype"]
        )
        for name, detail in runner.get_input_details().items()
    }
    runner(**feed)
    # Signatures are subgraphs in file order (the runner knows its own index).
    return interpreter, getattr(runner, "_subgraph_index", names.index(key))


def intermediates(
    path: str | Path,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    entry: dict,
    signature: str | None,
) -> list[tuple[str, np.ndarray]]:
    """Every float tensor of one invocation (see ``runtime/read/inspect.py``)."""
    interpreter, subgraph = _run_preserving(path, keypoints, attention_mask, entry, signature)
    tensors = []
    for detail in _tensor_details(interpreter, subgraph):
        if np.dtype(detail["dtype"]) not in (np.float32, np.float16):
            continue
        try:
            value = interpreter.get_tensor(detail["index"], subgraph)
        except ValueError:  # a tensor with no data (e.g. a scratch buffer)
            continue
        with np.errstate(invalid="ignore", over="ignore"):  # scratch tensors hold garbage
            tensors.append((detail["name"], np.array(value, dtype=np.float32)))
    return tensors


def tensor_values(
    path: str | Path,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    entry: dict,
    signature: str | None,
    indices: list[int],
) -> tuple[list[int], list[np.ndarray]]:
    """The values of the tensors ``indices`` (of the signature's subgraph) after one
    invocation, as the file stores them; those without data are left out."""
    interpreter, subgraph = _run_preserving(path, keypoints, attention_mask, entry, signature)
    found, values = [], []
    for index in indices:
        try:
            value = _get_tensor(interpreter, index, subgraph)
        except ValueError:  # no data (an optional input, a tensor the runtime freed)
            continue
        found.append(index)
        values.append(np.array(value))
    return found, values


def _get_tensor(interpreter, index: int, subgraph: int):
    try:
        return interpreter.get_tensor(index, subgraph)
    except TypeError:  # runtimes before 2.15 read the primary subgraph only
        if subgraph == 0:
            return interpreter.get_tensor(index)
        raise ValueError(
            "this runtime reads the tensors of a file's first signature only"
        ) from None


def _tensor_details(interpreter, subgraph: int) -> list[dict]:
    try:
        return interpreter.get_tensor_details(subgraph)
    except TypeError:  # runtimes before 2.15 list the primary subgraph's tensors only
        if subgraph == 0:
            return interpreter.get_tensor_details()
        raise ValueError(
            "this runtime lists the tensors of a file's first signature only"
        ) from None


def tensor_dtypes(path: str | Path, entry: dict) -> set[str]:
    """The dtypes of the tensors the file holds (empty when it cannot be read)."""
    try:
        details = _inspecting_interpreter(path, entry).get_tensor_details()
    except (ValueError, RuntimeError):
        return set()
    return {np.dtype(detail["dtype"]).name for detail in details}


# ---------------------------------------------------------------- latency


def measure(call: Callable[[], object], iterations: int, warmup: int = WARMUP):
    """(median, p90) milliseconds of ``call`` after a short warm-up."""
    for _ in range(warmup):
        call()
    samples = np.empty(iterations)
    for index in range(iterations):
        started = time.perf_counter()
        call()
        samples[index] = time.perf_counter() - started
    return float(np.median(samples) * 1e3), float(np.percentile(samples, 90) * 1e3)

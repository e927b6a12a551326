"""LiteRT's GPU accelerator: a file as GPU apps run it (``compiled@gpu``).

ai-edge-litert's wheel ships the accelerator over WebGPU (Dawn), which runs on any Vulkan
device; on a machine without a GPU that is Mesa's software device, lavapipe (llvmpipe).
``compiled@gpu`` is ``CompiledModel`` with ``HardwareAccelerator.GPU | CPU`` at the
accelerator's default precision (fp16 arithmetic, what apps get), ops it cannot take falling
back to the CPU; ``compiled@gpu:fp32`` enforces fp32 arithmetic. A pinned build
(``compiled==2.3.0@gpu``) runs in its worker through the same ``backends.CompiledBackend``,
handed the accelerator's data (``worker_setup``).

What this proves and what not (README, "The GPU lane"): LiteRT's GPU graph building, op
support, precision policy and kernels run for real; phones run the same accelerator over
OpenCL/OpenGL or Metal on real drivers, so driver bugs and bit-exact phone output are out
of reach.

Imports only the standard library and numpy at module level.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import glob
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from signbart_parity import quiet
from signbart_parity.errors import RuntimeEnvironmentError
from signbart_parity.fileio import write_json_atomic
from signbart_parity.runtime.provision import gpu_probe
from signbart_parity.runtime.provision.venvs import default_cache_root
from signbart_parity.runtime.run import backends
from signbart_parity.runtime.worker.client import WorkerBackend
from signbart_parity.runtime_specs import REGISTRY, parse_runtime_spec

INSTALL = (
    "install a Vulkan driver: on Debian 12, apt-get install libvulkan1 and, from "
    "bookworm-backports, mesa-vulkan-drivers (Mesa 25; Mesa 22's lavapipe is refused by Dawn)"
)
ICD_FOLDERS = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")
_ADAPTER = re.compile(r"Selected adapter: (?P<name>.*?), arch=.*?backend=(?P<backend>\w+)")
_SOFTWARE = re.compile(r"adapterType=CPU|arch=software")
_MESA = re.compile(rb"Mesa (\d+\.\d+\.\d+)")
# The accelerator's own reason, e.g. "INVALID_ARGUMENT: Unable to parse bc coord for BATCH axis"
_REASON = re.compile(
    r"\b(?P<reason>(INVALID_ARGUMENT|UNIMPLEMENTED|INTERNAL|FAILED_PRECONDITION|NOT_FOUND|"
    r"OUT_OF_RANGE|UNAVAILABLE|RESOURCE_EXHAUSTED): [^.;\n]+)"
)
# Dawn names the device when the process first makes a WebGPU environment, not after.
_DEVICE: list[dict] = []


class GpuUnavailable(RuntimeEnvironmentError):
    """No Vulkan device the GPU accelerator can use."""


class GpuRefused(Exception):
    """The GPU accelerator refused a file (its own message); a finding about the file."""


def gpu_folder() -> Path:
    return default_cache_root() / "gpu"


def prepare_environment() -> None:
    """What Mesa and Dawn need, inside this tool's cache (never the user's home): a runtime
    dir (Mesa complains without one) and Mesa's shader cache. A caller's own values win."""
    folder = gpu_folder()
    run_dir, shader_cache = folder / "run", folder / "mesa-shader-cache"
    for path in (run_dir, shader_cache):
        path.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(run_dir))
    os.environ.setdefault("MESA_SHADER_CACHE_DIR", str(shader_cache))


ENVIRONMENT_VARIABLES = ("XDG_RUNTIME_DIR", "MESA_SHADER_CACHE_DIR")


def vulkan_drivers() -> list[str]:
    """The Vulkan driver manifests (ICD json files) the Vulkan loader will use: those its
    own override variables name when set, else those installed (lavapipe's among them)."""
    for variable in ("VK_DRIVER_FILES", "VK_ICD_FILENAMES"):
        if os.environ.get(variable):
            named = os.environ[variable].split(os.pathsep)
            return [path for path in named if os.path.isfile(path)]
    found = []
    for folder in ICD_FOLDERS:
        found += sorted(glob.glob(os.path.join(folder, "*.json")))
    return found


def check_vulkan() -> None:
    """GpuUnavailable (one line naming what to install) unless a Vulkan loader and at least
    one driver are installed."""
    if ctypes.util.find_library("vulkan") is None:
        raise GpuUnavailable(f"no Vulkan loader (libvulkan.so.1) on this machine: {INSTALL}.")
    if not vulkan_drivers():
        raise GpuUnavailable(f"no Vulkan driver in {', '.join(ICD_FOLDERS)}: {INSTALL}.")


def mesa_version() -> str | None:
    """The Mesa release of the lavapipe driver, read from the driver library itself."""
    for folder in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib"):
        library = Path(folder) / "libvulkan_lvp.so"
        if library.is_file():
            found = _MESA.search(library.read_bytes())
            return found.group(1).decode() if found else None
    return None


def describe_adapter(log: str) -> dict | None:
    """The device Dawn chose, from its log line ("Selected adapter: llvmpipe (...)")."""
    found = _ADAPTER.search(log)
    if found is None:
        return None
    software = bool(_SOFTWARE.search(found.group(0)))
    device = {"name": found["name"], "backend": found["backend"], "software": software}
    if software and "llvmpipe" in found["name"]:
        device["mesa"] = mesa_version()
    return device


def device_words(device: dict | None) -> str:
    """``llvmpipe (LLVM 15.0.6, 256 bits), Mesa 25.0.7, Vulkan: a software GPU``."""
    if not device:
        return "an unnamed device"
    text = device["name"]
    if device.get("mesa"):
        text += f", Mesa {device['mesa']}"
    text += f", {device['backend']}"
    return text + (": a software GPU (on the CPU)" if device.get("software") else "")


@contextlib.contextmanager
def native_log(into: list[str]) -> Iterator[None]:
    """Read what native code writes around a call into ``into`` (one entry): its stderr,
    then its stdout (the accelerator prints "INFO: Failed to load OpenCL library ..." to fd
    1, where it would land among a command's own lines). Written back to stderr, a log and
    never the command's output, unless the toolchain is quieted (``quiet.py``)."""
    logged: list[str] = []
    printed: list[str] = []
    try:
        with quiet.captured_fd2(logged), quiet.captured_fd(1, printed):
            yield
    finally:
        text = "".join(logged + printed)
        into.append(text)
        if text and not quiet.toolchain_quieted():
            sys.stderr.write(text)
            sys.stderr.flush()


def op_names(path: Path, signature: str | None) -> list[str]:
    """The builtin op names of a signature's subgraph, in order (the partition's whole)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    index = 0
    for number in range(model.SignatureDefsLength()):
        entry = model.SignatureDefs(number)
        if signature is not None and entry.SignatureKey().decode() == signature:
            index = entry.SubgraphIndex()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    subgraph = model.Subgraphs(index)
    found = []
    for number in range(subgraph.OperatorsLength()):
        code = model.OperatorCodes(subgraph.Operators(number).OpcodeIndex())
        found.append(names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM"))
    return found


class GpuBackend:
    """CompiledModel with the GPU accelerator first and the CPU for what it cannot take: the
    build installed here in process (``compiled@gpu``), a pinned build
    (``compiled==2.3.0@gpu``) in its worker, through the same ``backends.CompiledBackend``."""

    def __init__(self, path: Path, runtime: str, num_threads: int | None, xnnpack: bool):
        if not xnnpack:
            raise ValueError("the GPU runtime runs XNNPACK for what falls back to the CPU")
        self.spec = parse_runtime_spec(runtime)
        check_vulkan()
        prepare_environment()
        quiet.silence_teardown()  # the accelerators log their destruction at process exit
        if not _PROBING:
            require_trusted_device(runtime=str(self.spec))
        self.path = Path(path)
        self.enforce_f32 = self.spec.accelerator_detail == "fp32"
        self._log: list[str] = []
        try:
            self._inner = self._load(num_threads)
        except RuntimeError as exc:
            raise GpuRefused(self._reason(exc)) from None
        self.signature_names = list(self._inner.signature_names)
        self.build: dict = {}

    def _load(self, num_threads: int | None):
        if not self.spec.in_process:
            inner = WorkerBackend(self.path, str(self.spec), num_threads, True)
            self._log.append(inner.accelerator["log"])
            return inner
        with native_log(self._log):
            return backends.CompiledBackend(self.path, self.spec.worker_entry(), num_threads, True)

    def open(self, key: str | None) -> tuple[list[dict], list[dict]]:
        inputs, outputs = self._inner.open(key)
        self.build = self._describe(key)
        return inputs, outputs

    def run(self, feeds: list[np.ndarray]) -> np.ndarray:
        try:
            if not self.spec.in_process:
                return self._inner.run(feeds)
            with native_log(self._log):
                return self._inner.run(feeds)
        except RuntimeError as exc:
            raise GpuRefused(self._reason(exc)) from None

    def time(self, feeds: list[np.ndarray], iterations: int, warmup: int = backends.WARMUP):
        """(median, p90) ms of ``run(feeds)``, inside the worker for a pinned build."""
        if not self.spec.in_process:
            return self._inner.time(feeds, iterations, warmup)
        return backends.measure(lambda: self.run(feeds), iterations, warmup)

    def _reason(self, exc: Exception) -> str:
        for text in (self._log[-1] if self._log else "", str(exc)):
            found = _REASON.search(text)
            if found:
                return found["reason"].strip()
        return _first_line(exc)

    def _fully_accelerated(self) -> bool:
        if self.spec.in_process:
            return self._inner.fully_accelerated()
        return bool(self._inner.accelerator["fully_accelerated"])

    def _describe(self, key: str | None) -> dict:
        ops = op_names(self.path, key)
        fully = self._fully_accelerated()
        return {
            **self._build_of_runtime(),
            "accelerator": "gpu",
            "gpu_precision": "fp32 enforced" if self.enforce_f32 else "default (fp16)",
            "device": _device("".join(self._log)),
            "ops": len(ops),
            "fully_accelerated": fully,
            **({} if fully else fallback_of("".join(self._log), ops)),
        }

    def _build_of_runtime(self) -> dict:
        """The LiteRT build that ran it: the worker's own description for a pinned one."""
        if not self.spec.in_process:
            return dict(self._inner.build)
        import platform

        return {
            "runtime": "compiled",
            "version": backends.runtime_version(REGISTRY["compiled"].worker_entry()),
            "arch": platform.machine(),
            "emulator": None,
        }


def worker_setup(spec) -> dict:
    """Readies this machine for a pinned build's worker on the GPU (``Accelerator.worker_setup``):
    a Vulkan device (GpuUnavailable naming what to install), the runtime dir and shader cache
    inside the cache dir; returns those variables, which the worker's backend sets."""
    check_vulkan()
    prepare_environment()
    return {"environment": {name: os.environ[name] for name in ENVIRONMENT_VARIABLES}}


# The accelerator's own account of a partial partition, in its log at load (TFLite's GPU
# delegate, inside libLiteRtWebGpuAccelerator.so; CompiledModel's API only says whether the
# file was fully accelerated):
#   ERROR: Following operations are not supported by GPU delegate:
#   GATHER_ND: Operation is not supported.
#   11 operations will run on the GPU, and the remaining 3 operations will run on the CPU.
_UNSUPPORTED = re.compile(
    r"(?:Following|Next) operations are not supported by GPU delegate:\n"
    r"(?P<ops>(?:[A-Z_0-9]+: [^\n]*\n)*)"
)
_UNSUPPORTED_OP = re.compile(r"^(?P<name>[A-Z_0-9]+): (?P<reason>.*)$", re.MULTILINE)
# (older TFLite builds: "First 65 operations will run on the GPU, and the remaining 3 on the CPU")
_COUNTS = re.compile(
    r"(?P<gpu>\d+) operations will run on the GPU, and the remaining (?P<cpu>\d+) "
    r"(?:operations will run )?on the CPU|No operations will run on the GPU, and all "
    r"(?P<all>\d+) operations"
)
# The builtin ops a SignBart file holds that LiteRT's GPU accelerator takes (measured on
# ai-edge-litert 2.3.0): what the fallback is inferred from when the accelerator's log does
# not say (another LiteRT build's wording).
GPU_OPS = frozenset(
    "ADD BATCH_MATMUL CAST EQUAL FULLY_CONNECTED GELU MEAN MUL REDUCE_MAX RESHAPE RSQRT "
    "SLICE SOFTMAX SQUARED_DIFFERENCE SUB SUM TRANSPOSE".split()
)


def fallback_of(log: str, ops: list[str]) -> dict:
    """What fell back to the CPU, as the accelerator logged it at load: the op types it
    does not support (and why), how many ops ran on the GPU and on the CPU. Without that
    log, the op types outside ``GPU_OPS``, marked as inferred."""
    counts = _COUNTS.search(log)
    if counts is None:
        return {"cpu_fallback": sorted(set(ops) - GPU_OPS), "cpu_fallback_source": "inferred"}
    listed = _UNSUPPORTED.search(log)
    reasons = {
        found["name"]: found["reason"].strip().rstrip(".")
        for found in _UNSUPPORTED_OP.finditer(listed["ops"] if listed else "")
    }
    on_cpu = int(counts["cpu"] or counts["all"])
    return {
        "cpu_fallback": sorted(reasons),
        "cpu_fallback_reasons": reasons,
        "cpu_fallback_source": "accelerator",
        "gpu_ops": int(counts["gpu"] or 0),
        "cpu_ops": on_cpu,
    }


def _device(log: str) -> dict | None:
    if not _DEVICE:
        found = describe_adapter(log)
        if found is None:
            return None
        _DEVICE.append(found)
    return _DEVICE[0]


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def partition_words(build: dict) -> str:
    """``322 ops, all on the GPU (fully accelerated)``, or what fell back to the CPU: ``14
    ops, not fully accelerated: 11 on the GPU, 3 on the CPU; the accelerator does not
    support GATHER_ND (Operation is not supported)``."""
    ops = build.get("ops")
    if build.get("fully_accelerated"):
        return f"{ops} ops, all on the GPU (fully accelerated)"
    names = build.get("cpu_fallback") or []
    if build.get("cpu_fallback_source") != "accelerator":
        fallback = ", ".join(names) or "ops it does not name"
        return (
            f"{ops} ops, not fully accelerated: CPU fallback for {fallback} (inferred from "
            "the op types: the accelerator did not say)"
        )
    text = f"{ops} ops, not fully accelerated: {build['gpu_ops']} on the GPU, "
    text += f"{build['cpu_ops']} on the CPU"
    reasons = build.get("cpu_fallback_reasons") or {}
    if names:
        listed = ", ".join(f"{name} ({reasons.get(name, 'no reason given')})" for name in names)
        text += f"; the accelerator does not support {listed}"
    return text


def describe_gpu_build(build: dict) -> str:
    """The GPU half of a build's description, for reports and verify's header."""
    return (
        f"GPU accelerator, {build.get('gpu_precision')} precision, on "
        f"{device_words(build.get('device'))}; {partition_words(build)}"
    )


# ---------------------------------------------------------------- trusting the device

# Share of max |output| a known small graph computed on the GPU with fp32 enforced may differ
# from LiteRT's CPU by: far above fp32 rounding (measured on lavapipe: 4e-7 for the matrix
# product over 144 terms, 2e-7 for the attention block) and far below a wrong kernel (the
# rank-2 constant add this project met was off by 100% of scale, LiteRT #8593's attention
# shape by 0.97).
PROBE_TOLERANCE = 1e-4
_PROBING: list[bool] = []
_VERDICT: dict[tuple[float, str], dict] = {}


class GpuUntrusted(RuntimeEnvironmentError):
    """The device computed a known small graph wrong with fp32 enforced."""


def probe_runtime(runtime: str | None = None) -> str:
    """The target the probe runs: ``runtime``'s LiteRT build on the GPU with fp32 enforced
    (``compiled==2.3.0@gpu`` -> ``compiled==2.3.0@gpu:fp32``; default the build here)."""
    spec = parse_runtime_spec(runtime or "compiled@gpu")
    return str(spec.build) + "@gpu:fp32"


def _litert_version(runtime: str) -> str:
    spec = parse_runtime_spec(runtime)
    return spec.version or backends.runtime_version(REGISTRY[spec.kind].worker_entry())


def probe_device(tolerance: float = PROBE_TOLERANCE, runtime: str | None = None) -> dict:
    """Run the known small graphs (``gpu_probe.PROBES``: a matrix product, an attention
    block) on the GPU with fp32 enforced, in ``runtime``'s LiteRT build (a pinned one in its
    worker), and on LiteRT's CPU: the device, each graph's relative error, the largest, and
    whether it is within ``tolerance``. The measurement is kept per device and LiteRT
    version in the cache dir."""
    import hashlib
    import json

    target = probe_runtime(runtime)
    identity = [_litert_version(target), vulkan_drivers(), mesa_version(), list(gpu_probe.PROBES)]
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
    stored = gpu_folder() / f"device-verdict-{key}.json"
    cached = str(stored) if stored.is_file() else None
    if cached:
        verdict = json.loads(stored.read_text(encoding="utf-8"))
    else:
        verdict = _measure(target)

        write_json_atomic(stored, verdict)
    agrees = verdict["relative_error"] <= tolerance
    return verdict | {"tolerance": tolerance, "agrees": agrees, "cached": cached}


def _measure(target: str) -> dict:
    """Each probe's relative error on ``target`` against LiteRT's CPU, whether the GPU took
    all of its ops (a probe that fell back to the CPU would prove nothing), the device."""
    errors, accelerated, device = {}, {}, None
    with tempfile.TemporaryDirectory(prefix="signbart-gpu-probe-") as scratch:
        for name, make in gpu_probe.PROBES.items():
            path, feeds = make(Path(scratch))
            _PROBING.append(True)
            try:
                backend = GpuBackend(path, target, None, True)
                on_gpu = _run_once(backend, feeds)
            finally:
                _PROBING.pop()
            device = device or backend.build.get("device")
            accelerated[name] = backend.build["fully_accelerated"]
            cpu = backends.InterpreterBackend(path, REGISTRY["litert"].worker_entry(), 1, True)
            errors[name] = gpu_probe.relative_error(on_gpu, _run_once(cpu, feeds))
            if not accelerated[name]:  # the CPU computed it: nothing about the GPU was shown
                errors[name] = float("inf")
    return {
        "device": device,
        "checks": errors,
        "fully_accelerated": accelerated,
        "relative_error": max(errors.values()),
    }


def _run_once(backend, feeds: list[np.ndarray]) -> np.ndarray:
    """One run of a probe file's one signature, each feed going to the input of its rank."""
    names = backend.signature_names  # CompiledModel names a file's primary subgraph too
    inputs, _ = backend.open(names[0] if names else None)
    by_rank = {array.ndim: array for array in feeds}
    return np.array(backend.run([by_rank[len(detail["shape"])] for detail in inputs]))


def checks_words(verdict: dict) -> str:
    """``relative error: matrix product 4e-07, attention block 1.9e-07; allowed 0.0001``."""
    errors = ", ".join(f"{name} {error:.2g}" for name, error in verdict["checks"].items())
    fallback = [name for name, on in verdict.get("fully_accelerated", {}).items() if not on]
    shown = f"relative error: {errors}; allowed {verdict['tolerance']:g}"
    return shown + "".join(f"; the {name} fell back to the CPU" for name in fallback)


def require_trusted_device(tolerance: float = PROBE_TOLERANCE, runtime: str | None = None) -> dict:
    """The probe's verdict for ``runtime``'s LiteRT build (default the build installed here);
    GpuUntrusted with the numbers when the device disagrees."""
    remembered = (tolerance, _litert_version(probe_runtime(runtime)))
    if remembered not in _VERDICT:
        _VERDICT[remembered] = probe_device(tolerance, runtime)
    verdict = _VERDICT[remembered]
    if not verdict["agrees"]:
        raise GpuUntrusted(
            f"the GPU device ({device_words(verdict['device'])}) is not trusted: known small "
            f"graphs with fp32 enforced disagree with LiteRT's CPU ({checks_words(verdict)}, "
            "as a share of their scale); results on it would say nothing about the file: use "
            "another Vulkan driver."
        )
    return verdict


# ---------------------------------------------------------------- hazards read from a file

FP16_MAX = 65504.0


def gpu_hazards(path: str | Path) -> list[str]:
    """Graph shapes known to break LiteRT's GPU numerics, read from the file (nothing run):
    constants fp16 cannot hold feeding a MUL/ADD in a file with a SOFTMAX (a mask fill such
    as -3.4e38 becomes -inf, and 0 x -inf is NaN); a rank-3 BATCH_MATMUL result added to a
    rank-4 broadcast tensor (LiteRT #8593's shape); a rank-2 tensor plus a constant with a
    row per frame (the GPU adds row 0 to every row: measured here)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(Path(path).read_bytes(), 0))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    found: list[str] = []
    for subgraph in model.subgraphs:
        ops = [(names.get(_code(model, op), "CUSTOM"), op) for op in subgraph.operators]
        producer = {out: name for name, op in ops for out in op.outputs}
        has_softmax = any(name == "SOFTMAX" for name, _ in ops)
        for index, (name, op) in enumerate(ops):
            if name not in ("ADD", "MUL"):
                continue
            inputs = [t for t in op.inputs if t >= 0]
            for tensor in inputs:
                value = _constant(model, subgraph, tensor)
                if has_softmax and value is not None and _beyond_fp16(value):
                    found.append(
                        f"op {index} {name}: constant {_extreme(value):.4g} is beyond fp16's "
                        f"range (+-{FP16_MAX:g}), in a graph with SOFTMAX: on a GPU in fp16 it "
                        "becomes inf, and a mask's 0 x inf is NaN"
                    )
            if name == "ADD" and len(inputs) == 2:
                found += _shape_hazards(model, subgraph, index, inputs, producer)
    return found


def _shape_hazards(model, subgraph, index: int, inputs: list[int], producer: dict) -> list[str]:
    shapes = [[int(n) for n in subgraph.tensors[t].shape] for t in inputs]
    found = []
    for mine, other in ((0, 1), (1, 0)):
        if producer.get(inputs[mine]) == "BATCH_MATMUL" and len(shapes[mine]) == 3:
            if len(shapes[other]) == 4:
                found.append(
                    f"op {index} ADD: a rank-3 BATCH_MATMUL result {shapes[mine]} plus a rank-4 "
                    f"tensor {shapes[other]} (LiteRT #8593's shape, wrong on some GPUs)"
                )
        constant = _constant(model, subgraph, inputs[other])
        rows = [n for n in shapes[other][:-1] if n > 1]
        if (
            len(shapes[mine]) == 2
            and _constant(model, subgraph, inputs[mine]) is None
            and constant is not None
            and rows
        ):
            found.append(
                f"op {index} ADD: a rank-2 tensor {shapes[mine]} plus a constant "
                f"{shapes[other]} with a row per frame (LiteRT's GPU adds its first row to "
                "every frame: measured on ai-edge-litert 2.3.0)"
            )
    return found


def _code(model, op) -> int:
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _constant(model, subgraph, tensor: int) -> np.ndarray | None:
    from ai_edge_litert import schema_py_generated as schema

    entry = subgraph.tensors[tensor]
    data = model.buffers[entry.buffer].data if entry.buffer < len(model.buffers) else None
    if data is None or len(data) == 0 or entry.type != schema.TensorType.FLOAT32:
        return None
    return np.frombuffer(bytes(bytearray(data)), dtype=np.float32)


def _beyond_fp16(value: np.ndarray) -> bool:
    return bool(np.any(np.abs(value[np.isfinite(value)]) > FP16_MAX))


def _extreme(value: np.ndarray) -> float:
    finite = value[np.isfinite(value)]
    return float(finite[np.argmax(np.abs(finite))])

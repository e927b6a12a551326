"""Which TFLite runtime build runs a file: a runtime spec such as ``litert``,
``tflite-runtime==2.14.0`` or ``litert==2.3.0@arm64:neoverse-n1``.

A bare name (``litert``, ``tensorflow``, ``compiled``) is the runtime installed beside this
tool, run in process. A pinned version (``NAME==X.Y.Z``) is that exact build, run out of
process in an isolated environment of its own (``runtime/envs.py``): the builds apps ship
are older than the one the harness imports, and a file can be right in one and silently
wrong in another. ``@arm64`` (optionally ``@arm64:CPU``) runs it on an emulated ARM64 CPU.
``compiled@gpu`` runs it on LiteRT's GPU accelerator at its default precision (fp16
arithmetic, as GPU apps run it), ``compiled@gpu:fp32`` with fp32 enforced (``runtime/gpu.py``).

``str(spec)`` is the canonical text, which is what flows through the code as the runtime
string. Nothing heavy is imported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# In-process TFLite runtimes: ai_edge_litert's Interpreter, TensorFlow's tf.lite.Interpreter,
# ai_edge_litert's CompiledModel on the CPU.
RUNTIMES = ("litert", "tensorflow", "compiled")
# The in-process runtimes, and tflite-runtime, which only a pin brings.
KINDS = (*RUNTIMES, "tflite-runtime")
ARCHES = ("arm64",)
GPU = "gpu"  # ``@gpu``: LiteRT's GPU accelerator, through CompiledModel only
GPU_PRECISIONS = ("fp32",)  # ``@gpu:fp32``; none: the accelerator's default (fp16)
# The packages each kind installs in its environment (tensorflow: tensorflow-cpu when that
# release exists, see envs.py).
PACKAGES = {
    "litert": "ai-edge-litert",
    "compiled": "ai-edge-litert",
    "tflite-runtime": "tflite-runtime",
    "tensorflow": "tensorflow",
}
# The oldest runtime build apps pin that this machine can run: TensorFlow Lite 2.14, the last
# tflite-runtime with CPython 3.11 wheels (Android tensorflow-lite 2.14.0, iOS
# TensorFlowLiteSwift 2.14). litert-torch's files claim min_runtime_version 2.9.0, so it is
# inside what they claim. What "not checked" names when no pinned build was asked for.
OLDEST_APP_BUILD = "tflite-runtime==2.14.0"
FORMS = (
    "litert, tensorflow or compiled (in process); litert==X.Y.Z, compiled==X.Y.Z (2.x), "
    "tflite-runtime==X.Y.Z or tensorflow==X.Y.Z (a pinned build); optionally followed by "
    "@arm64 or @arm64:CPU; or compiled@gpu, compiled@gpu:fp32 (LiteRT's GPU accelerator)"
)
# Up to 4 digits per part: every real release fits, and a 300-digit version never reaches a
# file name (where it would fail as "File name too long" after the run started).
_VERSION = re.compile(r"\d{1,4}\.\d{1,4}\.\d{1,4}(?:(?:a|b|rc)\d{1,4}|\.post\d{1,4})?")
_SPEC = re.compile(
    r"(?P<kind>[a-z][a-z-]*)"
    r"(?:(?P<operator>[=<>~!]=?=?)(?P<version>[^@]*))?"
    r"(?:@(?P<arch>[^:]*)(?::(?P<cpu>.*))?)?"
)


@dataclass(frozen=True)
class RuntimeSpec:
    kind: str  # one of KINDS
    version: str | None = None  # an exact release, run out of process
    arch: str | None = None  # None: this machine's; "arm64": emulated
    cpu: str | None = None  # the emulated CPU model (arm64 only)
    accelerator: str | None = None  # "gpu": LiteRT's GPU accelerator (CPU fallback)
    gpu_precision: str | None = None  # "fp32" enforced; None: the accelerator's default

    def __str__(self) -> str:
        text = self.kind
        if self.version:
            text += f"=={self.version}"
        if self.arch:
            text += f"@{self.arch}" + (f":{self.cpu}" if self.cpu else "")
        if self.accelerator:
            text += f"@{self.accelerator}" + (
                f":{self.gpu_precision}" if self.gpu_precision else ""
            )
        return text

    @property
    def gpu(self) -> bool:
        return self.accelerator == GPU

    @property
    def in_process(self) -> bool:
        """Run by the runtime installed beside this tool, in this process."""
        return self.version is None and self.arch is None

    @property
    def package(self) -> str:
        return PACKAGES[self.kind]

    def describe(self) -> str:
        """The build in words, for people."""
        api = {
            "litert": "ai-edge-litert's Interpreter",
            "compiled": "ai-edge-litert's CompiledModel ("
            + (self._gpu_words() if self.gpu else "CPU")
            + ")",
            "tflite-runtime": "tflite-runtime's Interpreter",
            "tensorflow": "TensorFlow's tf.lite.Interpreter",
        }[self.kind]
        where = f" {self.version}" if self.version else " (the build installed here)"
        if self.arch:
            cpu = f", CPU {self.cpu}" if self.cpu else ""
            where += f" on emulated {self.arch}{cpu}"
        return api + where

    def _gpu_words(self) -> str:
        precision = "fp32 enforced" if self.gpu_precision else "default precision, fp16"
        return f"GPU accelerator, {precision}; CPU fallback"


def parse_runtime_spec(text: str) -> RuntimeSpec:
    """The spec ``text`` names; ValueError (one sentence with the accepted forms) if none."""
    match = _SPEC.fullmatch(text.strip())
    if match is None or match["kind"] not in KINDS:
        raise ValueError(f"unknown value {text!r} for a runtime; use {FORMS}")
    kind, version = match["kind"], match["version"]
    if match["operator"] is not None:
        version = _exact_version(text, match["operator"], version)
    if match["arch"] == GPU:
        return _gpu_spec(text, kind, version, match["cpu"])
    if match["arch"] is not None and match["arch"] not in ARCHES:
        raise ValueError(f"unknown architecture in runtime {text!r}; use {FORMS}")
    if version is None and kind == "tflite-runtime":
        raise ValueError(
            f"runtime {text!r} needs a pinned version (tflite-runtime==X.Y.Z, e.g. "
            "tflite-runtime==2.14.0): it is not installed beside this tool"
        )
    if kind == "compiled" and version is not None and int(version.split(".")[0]) < 2:
        raise ValueError(
            f"runtime {text!r}: CompiledModel first shipped in ai-edge-litert 2.0; pin "
            "compiled==2.X.Y, or litert==" + version + " for that release's Interpreter"
        )
    cpu = match["cpu"] or None
    return RuntimeSpec(kind, version, match["arch"] or None, cpu)


def _gpu_spec(text: str, kind: str, version: str | None, precision: str | None) -> RuntimeSpec:
    if kind != "compiled":
        raise ValueError(
            f"runtime {text!r}: the GPU accelerator runs through CompiledModel; use "
            "compiled@gpu or compiled@gpu:fp32"
        )
    if version is not None:
        raise ValueError(
            f"runtime {text!r}: a pinned build on the GPU is not supported yet; use "
            "compiled@gpu or compiled@gpu:fp32 (the build installed here)"
        )
    if precision is not None and precision not in GPU_PRECISIONS:
        raise ValueError(
            f"unknown GPU precision in runtime {text!r}; use compiled@gpu (the accelerator's "
            "default, fp16) or compiled@gpu:fp32"
        )
    return RuntimeSpec(kind, accelerator=GPU, gpu_precision=precision)


def _exact_version(text: str, operator: str, version: str) -> str:
    if operator != "==" or not _VERSION.fullmatch(version):
        raise ValueError(
            f"runtime {text!r} must pin one exact release, NAME==X.Y.Z (e.g. "
            f"tflite-runtime==2.14.0, litert==1.4.0), not a range or a partial version"
        )
    return version


def canonical_runtime(text: str) -> str:
    """The canonical text of a runtime spec (ValueError as ``parse_runtime_spec``)."""
    return str(parse_runtime_spec(text))


def app_builds_not_checked(runtimes) -> str | None:
    """Why the runtime builds apps pin were not checked, when ``runtimes`` names none, with
    the option that checks them; None when at least one pinned build is among them."""
    if any(not parse_runtime_spec(runtime).in_process for runtime in runtimes):
        return None
    return (
        "runtime builds apps pin: not checked: only the runtime installed here ran; apps "
        f"keep older builds (e.g. TFLite 2.14): add {OLDEST_APP_BUILD} to the runtimes "
        f"(prepare it once with: signbart-parity runtimes prepare {OLDEST_APP_BUILD})"
    )


def gpu_not_checked(runtimes) -> str | None:
    """Why LiteRT's GPU accelerator was not checked, when ``runtimes`` names no GPU target,
    with the option that checks it; None when one of them ran the GPU."""
    if any(parse_runtime_spec(runtime).gpu for runtime in runtimes):
        return None
    return (
        "GPU: NOT CHECKED: only CPU runtimes ran; GPU apps run LiteRT's GPU accelerator, in "
        "fp16 by default, where a file can return NaN or wrong logits the CPU never shows: "
        "add compiled@gpu to the runtimes (e.g. --runtime litert compiled@gpu, or "
        "--parity-runtime=litert,compiled@gpu; needs a Vulkan device, see README, "
        '"The GPU lane")'
    )

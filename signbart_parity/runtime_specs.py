"""Which TFLite runtime build runs a file: a runtime spec such as ``litert``,
``tflite-runtime==2.14.0`` or ``litert==2.3.0@arm64:neoverse-n1``.

A bare name (``litert``, ``tensorflow``, ``compiled``) is the runtime installed beside this
tool, run in process. A pinned version (``NAME==X.Y.Z``) is that exact build, run out of
process in an isolated environment of its own (``runtime/envs.py``): the builds apps ship
are older than the one the harness imports, and a file can be right in one and silently
wrong in another. ``@arm64`` (optionally ``@arm64:CPU``) runs it on an emulated ARM64 CPU.

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
    "@arm64 or @arm64:CPU"
)
_VERSION = re.compile(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+|\.post\d+)?")
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

    def __str__(self) -> str:
        text = self.kind
        if self.version:
            text += f"=={self.version}"
        if self.arch:
            text += f"@{self.arch}" + (f":{self.cpu}" if self.cpu else "")
        return text

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
            "compiled": "ai-edge-litert's CompiledModel (CPU)",
            "tflite-runtime": "tflite-runtime's Interpreter",
            "tensorflow": "TensorFlow's tf.lite.Interpreter",
        }[self.kind]
        where = f" {self.version}" if self.version else " (the build installed here)"
        if self.arch:
            cpu = f", CPU {self.cpu}" if self.cpu else ""
            where += f" on emulated {self.arch}{cpu}"
        return api + where


def parse_runtime_spec(text: str) -> RuntimeSpec:
    """The spec ``text`` names; ValueError (one sentence with the accepted forms) if none."""
    match = _SPEC.fullmatch(text.strip())
    if match is None or match["kind"] not in KINDS:
        raise ValueError(f"unknown value {text!r} for a runtime; use {FORMS}")
    kind, version = match["kind"], match["version"]
    if match["operator"] is not None:
        version = _exact_version(text, match["operator"], version)
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

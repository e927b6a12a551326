"""Which TFLite runtime build runs a file: a runtime spec such as ``litert``,
``tflite-runtime==2.14.0`` or ``litert==2.3.0@arm64:neoverse-n1``.

A bare name (``litert``, ``tensorflow``, ``compiled``) is the runtime installed beside this
tool, run in process. A pinned version (``NAME==X.Y.Z``) is that exact build, run out of
process in an isolated environment of its own (``runtime/provision/venvs.py``): the builds apps ship
are older than the one the harness imports, and a file can be right in one and silently
wrong in another. ``@arm64`` (optionally ``@arm64:CPU``) runs it on an emulated ARM64 CPU.
``compiled@gpu`` runs it on LiteRT's GPU accelerator at its default precision (fp16
arithmetic, as GPU apps run it), ``compiled@gpu:fp32`` with fp32 enforced: the ``gpu``
entry of ``ACCELERATORS`` (its backend is ``runtime/gpu.py``).

``str(spec)`` is the canonical text, which is what flows through the code as the runtime
string. Nothing heavy is imported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Accelerator:
    """A device a kind can hand a file to, written ``KIND@NAME[:DETAIL]``: one registry entry.

    ``backend`` is the dotted path of the class that runs a file there (imported only when
    that accelerator is asked for); ``details`` the accepted ``:DETAIL`` values and their
    words, ``None`` being the accelerator's default; ``options`` what each detail asks of
    the runtime, as data a pinned build's worker receives (``RuntimeSpec.worker_entry``).
    ``worker_setup`` names the function (``module:function``, run in the harness) that readies
    this machine for a pinned build's worker and returns what its backend needs besides."""

    name: str
    words: str  # for people, e.g. "GPU accelerator"
    backend: str  # "module:Class"
    details: dict[str | None, str]  # detail -> its words; None: the default
    fallback: str = ""  # what runs the ops the accelerator cannot take, for people
    detail_kind: str = "setting"  # what ``:DETAIL`` sets, for people
    pinned: bool = False  # whether a pinned build can run it (out of process)
    options: dict[str | None, dict] = field(default_factory=dict)  # detail -> runtime options
    worker_setup: str = ""  # "module:function", spec -> dict of data for the worker

    def detail_words(self, detail: str | None) -> str:
        return self.details[detail]

    def worker_entry(self, detail: str | None) -> dict:
        """What a worker's backend needs to run a file here (plain data)."""
        return {"name": self.name, **self.options.get(detail, {})}


# LiteRT's GPU accelerator (CompiledModel with HardwareAccelerator.GPU | CPU): fp16 arithmetic
# by default, as GPU apps run it; ``:fp32`` enforces fp32 (GpuOptions(enforce_f32=True)).
GPU = Accelerator(
    "gpu",
    "GPU accelerator",
    "signbart_parity.runtime.gpu:GpuBackend",
    {None: "default precision, fp16", "fp32": "fp32 enforced"},
    fallback="CPU fallback",
    detail_kind="precision",
    pinned=True,
    options={None: {"enforce_f32": False}, "fp32": {"enforce_f32": True}},
    worker_setup="signbart_parity.runtime.gpu:worker_setup",
)
ACCELERATORS: dict[str, Accelerator] = {GPU.name: GPU}


@dataclass(frozen=True)
class RuntimeKind:
    """One runtime kind: everything the tool knows about it, in one registry entry.

    ``runner`` names the backend class in ``runtime/run/backends.py`` that runs its files (in
    process, and by file path inside a worker); ``interpreter`` the module whose
    Interpreter reads its files' tensors; ``distributions`` the package names a pinned
    environment may hold it under (the first is what a pin installs)."""

    name: str
    words: str  # the API, for people
    runner: str  # "InterpreterBackend" or "CompiledBackend"
    interpreter: str  # "ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow"
    distributions: tuple[str, ...]
    bundled: bool = True  # installed beside this tool: the bare name runs in process
    first_release: str | None = None  # the oldest pin that has this API
    # Accelerators (names in ACCELERATORS) the kind takes as ``@NAME[:DETAIL]``; without one
    # it runs on the CPU.
    accelerators: tuple[str, ...] = ()
    # A pin's wheels, tried in order (default: its package); its releases before
    # ``numpy1_before`` were built against numpy 1.x and fail under numpy 2 (undeclared).
    wheels: tuple[str, ...] = ()
    numpy1_before: str | None = None
    emulated: bool = False  # has aarch64 wheels: runs as KIND[==X.Y.Z]@arm64
    # The installed build runs in a worker on this Python, never in the tool's process:
    # TensorFlow's native libraries and LiteRT's GPU accelerator in one process segfault.
    own_process: bool = False

    def pinned_wheels(self, version: str) -> list[str]:
        """The requirements a pin of ``version`` installs, the first that exists wins."""
        return [f"{name}=={version}" for name in self.wheels or (self.package,)]

    def needs_numpy1(self, version: str | None) -> bool:
        return self.numpy1_before is not None and _older(version or "0.0", self.numpy1_before)

    @property
    def package(self) -> str:
        return self.distributions[0]

    @property
    def compiled(self) -> bool:
        """Run by LiteRT's CompiledModel (XNNPACK always on, no int64 inputs, no
        quantization parameters exposed), not an Interpreter."""
        return self.runner == "CompiledBackend"

    def worker_entry(self) -> dict:
        """What the worker (which imports nothing of this project) needs of the kind."""
        return {
            "name": self.name,
            "runner": self.runner,
            "interpreter": self.interpreter,
            "distributions": list(self.distributions),
        }


# The registry. A new runtime kind is one entry here (and its backend class, when none of
# runtime/run/backends.py's fits); every command, the gate and the worker then take it.
REGISTRY: dict[str, RuntimeKind] = {
    kind.name: kind
    for kind in (
        RuntimeKind(
            "litert",
            "ai-edge-litert's Interpreter",
            "InterpreterBackend",
            "ai_edge_litert.interpreter",
            ("ai-edge-litert",),
            numpy1_before="1.1",
            emulated=True,
        ),
        RuntimeKind(
            "tensorflow",
            "TensorFlow's tf.lite.Interpreter",
            "InterpreterBackend",
            "tensorflow",
            ("tensorflow", "tensorflow-cpu"),
            wheels=("tensorflow-cpu", "tensorflow"),  # the CPU-only wheel when it exists
            own_process=True,
        ),
        RuntimeKind(
            "compiled",
            "ai-edge-litert's CompiledModel (CPU)",
            "CompiledBackend",
            "ai_edge_litert.interpreter",  # inspected through its Interpreter
            ("ai-edge-litert",),
            first_release="2.0",
            accelerators=(GPU.name,),
        ),
        RuntimeKind(
            "tflite-runtime",
            "tflite-runtime's Interpreter",
            "InterpreterBackend",
            "tflite_runtime.interpreter",
            ("tflite-runtime",),
            bundled=False,
            numpy1_before="99",  # every release
        ),
    )
}
# The in-process runtimes (a bare name), and every kind (a pin).
RUNTIMES = tuple(name for name, kind in REGISTRY.items() if kind.bundled)
KINDS = tuple(REGISTRY)
ARCHES = ("arm64",)
# The oldest runtime build apps pin that this machine can run: TensorFlow Lite 2.14, the last
# tflite-runtime with CPython 3.11 wheels (Android tensorflow-lite 2.14.0, iOS
# TensorFlowLiteSwift 2.14). litert-torch's files claim min_runtime_version 2.9.0, so it is
# inside what they claim. What "not checked" names when no pinned build was asked for.
OLDEST_APP_BUILD = "tflite-runtime==2.14.0"


def _forms() -> str:
    accelerated = [
        f"{name}@{accelerator}" + (f":{detail}" if detail else "")
        for name, kind in REGISTRY.items()
        for accelerator in kind.accelerators
        for detail in ACCELERATORS[accelerator].details
    ]
    pinned = [
        f"{name}==X.Y.Z@{accelerator}"
        for name, kind in REGISTRY.items()
        for accelerator in kind.accelerators
        if ACCELERATORS[accelerator].pinned
    ]
    return (
        f"{', '.join(RUNTIMES)} (in process); "
        + ", ".join(f"{name}==X.Y.Z" for name in KINDS)
        + " (a pinned build); optionally followed by @arm64 or @arm64:CPU"
        + (f"; or {', '.join(accelerated)}" if accelerated else "")
        + (f" (pinned: {', '.join(pinned)}[:DETAIL])" if pinned else "")
    )


FORMS = _forms()
# Up to 4 digits per part: every real release fits, and a 300-digit version never reaches a
# file name (where it would fail as "File name too long" after the run started).
_VERSION = re.compile(r"\d{1,4}\.\d{1,4}\.\d{1,4}(?:(?:a|b|rc)\d{1,4}|\.post\d{1,4})?")
_SPEC = re.compile(
    r"(?P<kind>[a-z][a-z-]*)"
    r"(?:(?P<operator>[=<>~!]=?=?)(?P<version>[^@]*))?"
    r"(?:@(?P<where>[^:]*)(?::(?P<detail>.*))?)?"
)


@dataclass(frozen=True)
class RuntimeSpec:
    kind: str  # one of KINDS
    version: str | None = None  # an exact release, run out of process
    arch: str | None = None  # None: this machine's; "arm64": emulated
    cpu: str | None = None  # the emulated CPU model (arm64 only)
    accelerator: str | None = None  # one of the kind's accelerators; None: the CPU
    accelerator_detail: str | None = None  # e.g. "fp32" in "@gpu:fp32"

    def __str__(self) -> str:
        text = self.kind
        if self.version:
            text += f"=={self.version}"
        where, detail = (self.arch, self.cpu) if self.arch else (self.accelerator, None)
        if self.accelerator:
            detail = self.accelerator_detail
        if where:
            text += f"@{where}" + (f":{detail}" if detail else "")
        return text

    @property
    def entry(self) -> RuntimeKind:
        """The kind's registry entry."""
        return REGISTRY[self.kind]

    @property
    def on_accelerator(self) -> Accelerator | None:
        """The accelerator's registry entry; None on the CPU."""
        return ACCELERATORS[self.accelerator] if self.accelerator else None

    @property
    def gpu(self) -> bool:
        return self.accelerator == GPU.name

    @property
    def installed(self) -> bool:
        """The build installed beside this tool (not a pinned or emulated one)."""
        return self.version is None and self.arch is None

    @property
    def in_process(self) -> bool:
        """Run in this process: the installed build, unless its kind keeps its own."""
        return self.installed and not self.entry.own_process

    @property
    def package(self) -> str:
        return self.entry.package

    @property
    def build(self) -> RuntimeSpec:
        """The runtime build alone, without the accelerator (what an environment holds:
        ``compiled==2.3.0@gpu`` runs in ``compiled==2.3.0``'s)."""
        return RuntimeSpec(self.kind, self.version, self.arch, self.cpu)

    def worker_entry(self) -> dict:
        """The kind's registry entry as a worker takes it, with the accelerator's data."""
        entry = self.entry.worker_entry()
        if self.on_accelerator is not None:
            entry["accelerator"] = self.on_accelerator.worker_entry(self.accelerator_detail)
        return entry

    def describe(self) -> str:
        """The build in words, for people."""
        api = self.entry.words
        accelerator = self.on_accelerator
        if accelerator is not None:  # "... CompiledModel (GPU accelerator, fp32 enforced; ...)"
            words = f"{accelerator.words}, {accelerator.detail_words(self.accelerator_detail)}"
            fallback = f"; {accelerator.fallback}" if accelerator.fallback else ""
            api = f"{api.removesuffix(' (CPU)')} ({words}{fallback})"
        where = f" {self.version}" if self.version else " (the build installed here)"
        if self.arch:
            cpu = f", CPU {self.cpu}" if self.cpu else ""
            where += f" on emulated {self.arch}{cpu}"
        return api + where


def parse_runtime_spec(text: str) -> RuntimeSpec:
    """The spec ``text`` names; ValueError (one sentence with the accepted forms) if none."""
    match = _SPEC.fullmatch(text.strip())
    if match is None or match["kind"] not in REGISTRY:
        raise ValueError(f"unknown value {text!r} for a runtime; use {FORMS}")
    kind, version = match["kind"], match["version"]
    if match["operator"] is not None:
        version = _exact_version(text, match["operator"], version)
    entry = REGISTRY[kind]
    if version is None and not entry.bundled:
        raise ValueError(
            f"runtime {text!r} needs a pinned version ({kind}==X.Y.Z, e.g. "
            f"{OLDEST_APP_BUILD}): it is not installed beside this tool"
        )
    if version is not None and entry.first_release and _older(version, entry.first_release):
        raise ValueError(
            f"runtime {text!r}: {entry.words} first shipped in {entry.package} "
            f"{entry.first_release}; pin {kind}=={entry.first_release.split('.')[0]}.X.Y, or "
            f"litert=={version} for that release's Interpreter"
        )
    where, detail = match["where"], match["detail"] or None
    if where is None:
        return RuntimeSpec(kind, version)
    if where in ARCHES:
        return RuntimeSpec(kind, version, arch=where, cpu=detail)
    if where in ACCELERATORS:
        return _accelerated_spec(text, kind, version, ACCELERATORS[where], detail)
    raise ValueError(f"unknown architecture or accelerator in runtime {text!r}; use {FORMS}")


def _accelerated_spec(
    text: str, kind: str, version: str | None, accelerator: Accelerator, detail: str | None
) -> RuntimeSpec:
    takers = [name for name, entry in REGISTRY.items() if accelerator.name in entry.accelerators]
    forms = " or ".join(f"{name}@{accelerator.name}" for name in takers)
    if kind not in takers:
        raise ValueError(f"runtime {text!r}: the {accelerator.words} runs through {forms}")
    if version is not None and not accelerator.pinned:
        raise ValueError(
            f"runtime {text!r}: a pinned build on the {accelerator.words} is not supported "
            f"yet; use {forms} (the build installed here)"
        )
    if detail not in accelerator.details:
        known = ", ".join(
            f"{forms}:{d}" if d else f"{forms} ({words})"
            for d, words in accelerator.details.items()
        )
        raise ValueError(
            f"unknown {accelerator.name.upper()} {accelerator.detail_kind} in runtime {text!r}; "
            f"use {known}"
        )
    return RuntimeSpec(kind, version, accelerator=accelerator.name, accelerator_detail=detail)


def _older(version: str, release: str) -> bool:
    as_numbers = [int(part) for part in re.findall(r"\d+", version)[:2]]
    return as_numbers < [int(part) for part in release.split(".")]


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
    if any(not parse_runtime_spec(runtime).installed for runtime in runtimes):
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

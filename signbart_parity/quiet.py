"""Keep the toolchain's chatter off the terminal, so the CLI shows only its own lines.

Each source is silenced where it starts, never by swallowing stderr wholesale:

- environment variables TensorFlow reads when it loads (set before it is imported): its C++
  INFO and WARNING lines, and the oneDNN notice it logs before reading its log level;
- Python logging levels of the libraries that log warnings at import (torchao's "Failed to
  load ...so", torch's pytree Enum notice) and warnings filters for their deprecation notices;
- two things have no switch: TFLite prints "Created TensorFlow Lite XNNPACK delegate" from
  C++, and ai-edge-quantizer draws a tqdm progress bar while quantizing even when asked not
  to. Around those calls only, stderr (fd 2) is read back and those lines dropped; every
  other line (a real error) passes through unchanged. LiteRT's GPU accelerator also prints
  "INFO: Failed to load OpenCL library ..." to stdout (fd 1): ``runtime/gpu.py`` reads both
  descriptors around its calls (``captured_fd``).

LiteRT's CompiledModel also logs its accelerators' destruction from C++ after Python has
finished (static destructors at process exit); once this tool's output is complete and
flushed, that teardown has nowhere to write (``silence_teardown``).

``--verbose`` leaves all of it alone. Library use (the gate, tests) is not affected unless a
caller asks for ``quiet_toolchain()``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator

ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow C++: errors only
    # TensorFlow's oneDNN notice. No TensorFlow kernel computes anything this tool reports
    # (conversions are byte-identical either way, checked), so turning oneDNN off is safe.
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "LITERT_TORCH_SHOW_PROGRESS": "n",
}
LOGGERS = ("torchao", "torch.utils._pytree", "absl", "tensorflow", "jax", "litert_torch")
# Lines no switch turns off: TFLite's delegate notice, and tqdm progress bars (each update
# ends in a carriage return, so it is its own line here).
NOTICES = (
    re.compile(r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.\s*$"),
    # LiteRT's environment and accelerator start-up (CompiledModel): it looks for NPU, GPU
    # and vendor plugins this machine does not have and logs each attempt.
    re.compile(r"^(INFO|WARNING): \[[\w./-]+\.cc:\d+\] "),
    # LiteRT's GPU accelerator (runtime/gpu.py): Dawn's limits notices, glog's info and
    # warning lines, and its look for an OpenCL library this machine does not need.
    re.compile(r"^Warning: maxDynamic\w+ artificially reduced"),
    re.compile(r"^WARNING: Logging before InitGoogle\(\)"),
    re.compile(r"^[IW]\d{4} [\d:.]+ +\d+ [\w./-]+\.(cc|h):\d+\] "),
    re.compile(r"^INFO: Failed to load OpenCL library"),
    re.compile(r"^[^\n]*\d+%\|[^|]*\| *\d+/\d+ \[[^\]]*\]\s*$"),
    re.compile(r"^\s*$"),  # what a progress bar leaves when it clears itself
)
# Packages whose UserWarnings are about their own internals (e.g. ai_edge_litert's "enabling
# experimental_preserve_all_tensors is for debugging", which calibration triggers).
TOOLCHAIN_MODULES = r"(ai_edge_litert|ai_edge_quantizer|litert_torch|torchao|torch)(\..*)?$"

# What the gate's own tests ignore, as pytest ``filterwarnings`` marks (action:message:
# category:module): the toolchain's deprecation notices (torch's "isinstance(treespec,
# LeafSpec) is deprecated"...) and its UserWarnings about its own internals. Applied to gate
# items only, so another project's tests keep their warnings.
GATE_WARNING_FILTERS = (
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    f"ignore::UserWarning:{TOOLCHAIN_MODULES}",
)

_quiet = False
_verbose = False
_teardown_silenced = False


def let_toolchain_speak() -> None:
    """``--verbose``: nothing of the toolchain's output is silenced, the converter's included."""
    global _verbose
    _verbose = True


@contextlib.contextmanager
def converter_quieted() -> Iterator[None]:
    """Around a litert-torch conversion: no progress log, no root-logger warnings (callers
    report progress themselves). Leaves everything alone under ``--verbose``."""
    if _verbose:
        yield
        return
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quiet_toolchain() -> None:
    """Silence the toolchain for the rest of this process (call before importing it)."""
    global _quiet
    _quiet = True
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=TOOLCHAIN_MODULES)


def toolchain_quieted() -> bool:
    """Whether ``quiet_toolchain()`` was called (the CLI without --verbose)."""
    return _quiet


def silence_teardown() -> None:
    """In quiet mode, send what native code writes after Python's own exit to /dev/null."""
    global _teardown_silenced
    if _quiet and not _teardown_silenced:
        _teardown_silenced = True
        atexit.register(_discard_native_stderr)


def _discard_native_stderr() -> None:
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def is_notice(line: str) -> bool:
    return any(pattern.match(line) for pattern in NOTICES)


@contextlib.contextmanager
def notices_dropped() -> Iterator[None]:
    """Around a toolchain call: drop the known notices from what it writes to stderr (fd 2,
    native and Python alike) and write every other line back. Does nothing unless
    ``quiet_toolchain()`` was called."""
    if not _quiet:
        yield
        return
    with _fd2_notices_dropped():
        yield


@contextlib.contextmanager
def toolchain_noise_dropped() -> Iterator[None]:
    """Around the gate's toolchain work outside any test (loading the model, timing the
    files after the last test, where pytest captures nothing): the gate's warning filters
    and the known notices dropped from fd 2. Leaves everything alone under ``--verbose``."""
    if _verbose:
        yield
        return
    with warnings.catch_warnings(), _fd2_notices_dropped():
        for spec in GATE_WARNING_FILTERS:
            action, _, category, module = (spec.split(":") + [""])[:4]
            warnings.filterwarnings(action, category=_CATEGORIES[category], module=module)
        yield


_CATEGORIES = {
    "DeprecationWarning": DeprecationWarning,
    "FutureWarning": FutureWarning,
    "UserWarning": UserWarning,
}


@contextlib.contextmanager
def captured_fd2(into: list[str]) -> Iterator[None]:
    """What native code writes to stderr (fd 2) inside the block, appended to ``into``
    (and not shown: the caller decides what to write back)."""
    with captured_fd(2, into):
        yield


@contextlib.contextmanager
def captured_fd(fd: int, into: list[str]) -> Iterator[None]:
    """What native code writes to file descriptor ``fd`` (1: stdout, 2: stderr) inside the
    block, appended to ``into`` (and not shown: the caller decides what to write back)."""
    (sys.stdout if fd == 1 else sys.stderr).flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            captured.seek(0)
            into.append(captured.read().decode("utf-8", errors="replace"))


@contextlib.contextmanager
def _fd2_notices_dropped() -> Iterator[None]:
    texts: list[str] = []
    try:
        with captured_fd2(texts):
            yield
    finally:
        kept = _without_notices("".join(texts).splitlines(keepends=True))
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def _without_notices(lines: list[str]) -> list[str]:
    """Lines that are not notices; a notice's continuation lines ("└ ...") go with it."""
    kept, dropping = [], False
    for line in lines:
        dropping = is_notice(line) or (dropping and line.lstrip().startswith("└"))
        if not dropping:
            kept.append(line)
    return kept

"""Lanes whose system packages pip cannot install: the markers that say a test needs one, and
what happens where it is missing.

``needs_qemu`` (the arm64 lane), ``needs_vulkan`` (the GPU lane) and ``needs_chromium`` (the
HTML report's rendering). Outside CI a test whose package is missing is skipped loudly: its
reason names the lane, the package and the install command, and the terminal summary ends with
one ``NOT CHECKED: ...`` line per lane. With ``CI=true`` (or ``SIGNBART_PARITY_REQUIRE_LANES=1``)
the same test fails instead, so CI can never pass by skipping a lane.

The hooks are imported by ``tests/conftest.py``; the summary is built from the skip reports,
so it also works on an xdist controller.
"""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest

REQUIRE_ENV = "SIGNBART_PARITY_REQUIRE_LANES"
INSTALL = "run `bash install.sh` as root on Debian 12 or Ubuntu"
PREFIX = "NOT CHECKED: "
LAVAPIPE_ICDS = "/usr/share/vulkan/icd.d/lvp_icd*.json"


def _qemu() -> str | None:
    from signbart_parity.errors import RuntimeEnvironmentError
    from signbart_parity.runtime.provision import emulator

    try:
        found = emulator.find_emulator()
    except RuntimeEnvironmentError:
        return "qemu-user missing"
    if found.version < emulator.TRUSTED_FROM:
        return f"qemu-user 10 missing, found {found.label}"
    return None


def _vulkan() -> str | None:
    try:
        ctypes.CDLL("libvulkan.so.1")
    except OSError:
        return "libvulkan1 missing"
    if not glob.glob(LAVAPIPE_ICDS):
        return "mesa-vulkan-drivers (lavapipe) missing"
    return None


def _chromium() -> str | None:
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return None
    return "chromium missing"


@dataclass(frozen=True)
class Lane:
    marker: str
    name: str
    probe: Callable[[], str | None]


LANES = (
    Lane("needs_qemu", "arm64 lane", _qemu),
    Lane("needs_vulkan", "GPU lane", _vulkan),
    Lane("needs_chromium", "HTML report rendering", _chromium),
)
_found: dict[str, str | None] = {}


def lanes_required() -> bool:
    """CI (``CI=true``) and ``SIGNBART_PARITY_REQUIRE_LANES=1`` require every lane."""
    return os.environ.get("CI", "").lower() in ("true", "1") or os.environ.get(REQUIRE_ENV) == "1"


def missing(lane: Lane) -> str | None:
    """What the lane lacks on this machine (None when it can run), probed once per session."""
    if lane.marker not in _found:
        _found[lane.marker] = lane.probe()
    return _found[lane.marker]


def pytest_sessionstart(session) -> None:
    _found.clear()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    for lane in LANES:
        if item.get_closest_marker(lane.marker) is None or (lack := missing(lane)) is None:
            continue
        if lanes_required():
            pytest.fail(f"{lane.name} is required here but {lack}: {INSTALL}", pytrace=False)
        pytest.skip(f"{PREFIX}{lane.name} ({lack}): {INSTALL}")


def _not_checked_reason(report) -> str | None:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
    reason = reason.removeprefix("Skipped: ")
    return reason if reason.startswith(PREFIX) else None


def pytest_terminal_summary(terminalreporter) -> None:
    reasons = Counter(
        reason
        for report in terminalreporter.stats.get("skipped", [])
        if (reason := _not_checked_reason(report))
    )
    for reason, count in reasons.items():
        lane = reason.removesuffix(f": {INSTALL}")
        tests = "test" if count == 1 else "tests"
        terminalreporter.write_line(f"{lane}: {count} {tests} skipped; {INSTALL}", yellow=True)

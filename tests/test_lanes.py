"""The lane markers (tests/lanes.py) in a real pytest run: a missing system package skips its
tests loudly outside CI and fails them in CI; a present one runs them."""

from __future__ import annotations

import pytest

from tests import lanes

PROBE = """
import pytest

@pytest.mark.needs_qemu
def test_emulated():
    pass

@pytest.mark.needs_chromium
def test_rendered():
    pass

@pytest.mark.needs_vulkan
def test_on_the_gpu():
    pass

def test_plain():
    pass
"""
INI = """[pytest]
markers =
    needs_qemu: x
    needs_vulkan: x
    needs_chromium: x
"""


@pytest.fixture
def probe(pytester, monkeypatch):
    """A run of PROBE with the lane hooks, from an empty PATH (no qemu, no Chromium)."""
    monkeypatch.setattr(lanes, "_found", {})  # the outer session keeps its own probes
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(lanes.REQUIRE_ENV, raising=False)
    monkeypatch.delenv("SIGNBART_PARITY_QEMU", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(test_probe=PROBE)

    def run(**env: str):
        monkeypatch.setenv("PATH", str(pytester.path))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return pytester.runpytest("-p", "no:cacheprovider", "-rs", plugins=[lanes])

    return run


def test_outside_ci_a_missing_lane_is_skipped_naming_the_package_and_the_command(probe):
    result = probe()
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 1 and outcomes["skipped"] >= 2 and "failed" not in outcomes
    output = result.stdout.str()
    install = "run `bash install.sh` as root on Debian 12 or Ubuntu"
    assert f"NOT CHECKED: arm64 lane (qemu-user missing): {install}" in output  # the reason
    assert f"NOT CHECKED: arm64 lane (qemu-user missing): 1 test skipped; {install}" in output
    assert "NOT CHECKED: HTML report rendering (chromium missing): 1 test skipped" in output


@pytest.mark.parametrize("setting", [{"CI": "true"}, {lanes.REQUIRE_ENV: "1"}])
def test_in_ci_a_missing_lane_fails(probe, setting):
    result = probe(**setting)
    outcomes = result.parseoutcomes()
    assert outcomes["errors"] >= 2 and "skipped" not in outcomes
    output = result.stdout.str()
    assert "arm64 lane is required here but qemu-user missing" in output
    assert "HTML report rendering is required here but chromium missing" in output
    assert "NOT CHECKED" not in output


@pytest.mark.needs_qemu
@pytest.mark.needs_vulkan
@pytest.mark.needs_chromium
def test_where_every_package_is_present_every_lane_runs(pytester, monkeypatch):
    monkeypatch.setattr(lanes, "_found", {})
    monkeypatch.setenv("CI", "true")
    pytester.makeini(INI)
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.runpytest("-p", "no:cacheprovider", plugins=[lanes])
    result.assert_outcomes(passed=4)

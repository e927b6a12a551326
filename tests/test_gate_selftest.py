"""The gate proves its power: it fails on deliberately broken conversions and passes on
the genuine one. Each case runs the installed gate in a fresh pytester directory, as a
user's repo would: the genuine case with ``--pyargs signbart_parity.gate``, the broken
ones through a test module that re-exports the gate's tests beside a conftest that makes
the plugin convert a broken model instead of the checkpoint's."""

from __future__ import annotations

import json

import pytest

from signbart_parity.faults import FAULTS

pytestmark = pytest.mark.slow

BROKEN_SOURCE = """
import pytest
from signbart_parity.faults import broken_model

@pytest.fixture(scope="session")
def parity_export_source(parity_model):
    return broken_model(parity_model[0], {fault!r})
"""
# Faults that only show when frames are padded also break padding invariance.
MASK_FAULTS = {"mask-ignored-in-encoder", "last-frame-pooling"}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("parity-cache")


GATE_COPY = "from signbart_parity.gate.test_gate import *  # noqa: F403\n"


def run_gate(pytester, cache, *extra):
    # A subprocess per run: torch and litert-torch register global state on import that an
    # in-process pytester run (which unloads what it imported) cannot register twice.
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-rfs",
        "--seq-lens",
        "16",
        "--quantization",
        "none",
        "--parity-cache",
        str(cache),
        "--parity-report",
        "report",
        *extra,
    )


@pytest.fixture
def ci_profile(monkeypatch):
    monkeypatch.setenv("SIGNBART_PARITY_PROFILE", "ci")


def test_gate_passes_on_the_genuine_conversion(pytester, shared_cache, ci_profile):
    result = run_gate(pytester, shared_cache, "--pyargs", "signbart_parity.gate")
    # One seq_len here (to keep conversions few), so bucket consistency has no pair; and
    # no --baseline was given.
    result.assert_outcomes(passed=6, skipped=2)
    result.stdout.fnmatch_lines(["*needs two --seq-lens to compare*"])
    result.stdout.fnmatch_lines(["*no --baseline given*"])
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    assert report["passed"] is True
    (row,) = report["results"]
    assert row["examples"] >= 75 and row["divergence"] is None
    assert row["latency_ms"] > 0 and report["torch_latency_ms"]["16"] > 0


@pytest.mark.parametrize("fault", FAULTS)
def test_gate_fails_on_a_broken_conversion(pytester, shared_cache, ci_profile, fault):
    pytester.makeconftest(BROKEN_SOURCE.format(fault=fault))
    pytester.makepyfile(test_release_gate=GATE_COPY)
    result = run_gate(pytester, shared_cache)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1, result.stdout.str()
    result.stdout.fnmatch_lines(["*PARITY VIOLATED*max abs err*"])
    result.stdout.fnmatch_lines(["*FAILED*test_logits_match_pytorch*"])
    # The message says where in the network the file first departs from PyTorch.
    result.stdout.fnmatch_lines(["*first divergence: *"])
    if fault in MASK_FAULTS:
        result.stdout.fnmatch_lines(["*FAILED*test_padding_never_changes_logits*"])
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    assert report["passed"] is False
    assert report["results"][0]["divergence"].startswith("first divergence: ")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """Files "shipped" earlier, converted once per module. Module-scoped, so the converter is
    imported before any pytester snapshot (which would unload it after each test)."""
    from signbart_parity.convert import convert
    from signbart_parity.default_model import load_model_or_default
    from signbart_parity.faults import broken_model

    model = load_model_or_default(None, None)[0]
    folder = tmp_path_factory.mktemp("shipped")
    variants = {"same": (model, 16), "flipped": (broken_model(model, "inverted-mask"), 16),
                "seq_len_8": (model, 8)}
    return {name: convert(m, seq_len=t, output=folder / f"{name}.tflite").path
            for name, (m, t) in variants.items()}


def run_with_baseline(pytester, cache, baseline):
    return run_gate(pytester, cache, "--pyargs", "signbart_parity.gate",
                    "--baseline", str(baseline))


def test_baseline_of_the_same_model_passes(pytester, shared_cache, ci_profile, shipped):
    run_with_baseline(pytester, shared_cache, shipped["same"]).assert_outcomes(
        passed=7, skipped=1
    )


def test_baseline_whose_predictions_differ_fails(pytester, shared_cache, ci_profile, shipped):
    result = run_with_baseline(pytester, shared_cache, shipped["flipped"])
    result.assert_outcomes(passed=6, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*predictions flip*TOO MANY FLIPS*"])


def test_baseline_at_a_length_the_gate_does_not_export_fails(
    pytester, shared_cache, ci_profile, shipped
):
    result = run_with_baseline(pytester, shared_cache, shipped["seq_len_8"])
    result.assert_outcomes(passed=6, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*takes seq_len 8, which the gate does not export*"])

"""The gate proves its power: it fails on deliberately broken conversions and passes on
the genuine one. Each case runs the installed gate on the upstream fixture checkpoint in a
fresh pytester directory, as a user's repo would: the genuine case with ``--pyargs
signbart_parity.gate``, the broken ones through a test module that re-exports the gate's
tests beside a conftest that makes the plugin convert a broken model instead of the
checkpoint's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signbart_parity.checks.faults import FAULTS
from signbart_parity.runtime_specs import app_builds_not_checked
from tests.helpers import CHECKPOINT, CONFIG, assert_gate_ran
from tests.tflite_files import shared_gate_cache

pytestmark = pytest.mark.slow

BROKEN_SOURCE = """
from pathlib import Path

import pytest
import signbart_parity.checks.divergence
from signbart_parity.checks.faults import broken_model

@pytest.fixture(scope="session")
def parity_export_source(parity_model):
    return broken_model(parity_model[0], {fault!r})

# Count divergence localisations (a spy on the real function): it must run once per
# failing test, on the minimal example, not on every shrinking step.
CALLS = []
_localise = signbart_parity.checks.divergence.localise_in_file

def counting_localise(*args, **kwargs):
    CALLS.append(1)
    return _localise(*args, **kwargs)

signbart_parity.checks.divergence.localise_in_file = counting_localise

def pytest_sessionfinish(session):
    Path("localisations.txt").write_text(str(len(CALLS)))
"""
# Faults that only show when frames are padded also break padding invariance.
MASK_FAULTS = {"mask-ignored-in-encoder", "last-frame-pooling"}


GATE_COPY = "from signbart_parity.gate.test_gate import *  # noqa: F403\n"


def run_gate(pytester, *extra):
    # A subprocess per run: torch and litert-torch register global state on import that an
    # in-process pytester run (which unloads what it imported) cannot register twice. The
    # upstream fixture checkpoint, converted into the tests' shared export cache: the genuine
    # file and each fault's broken one are the files ``tflite_files`` makes for other tests.
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-rfs",
        f"--parity-checkpoint={CHECKPOINT}",
        f"--parity-config={CONFIG}",
        "--parity-seq-lens=16",
        "--parity-quantization=none",
        *shared_gate_cache(pytester.path / "corpus"),
        "--parity-report=report",
        *extra,
    )


def read_report(pytester) -> dict:
    return json.loads((pytester.path / "report" / "parity.json").read_text())


def written_verdicts(pytester) -> tuple[bool, str, str]:
    """What each report file says: parity.json "passed", the md and html headlines."""
    folder = pytester.path / "report"
    data = json.loads((folder / "parity.json").read_text())
    markdown = (folder / "parity.md").read_text().splitlines()[0]
    page = (folder / "parity.html").read_text()
    badge = page.split('<span class="badge ', 1)[1].split(">", 2)[1].split("<")[0]
    return data["passed"], markdown.split("— ", 1)[1][:4], badge


@pytest.fixture
def ci_profile(monkeypatch):
    monkeypatch.setenv("SIGNBART_PARITY_PROFILE", "ci")


# Every self-test runs the Interpreter and the CompiledModel Android apps use now.
RUNTIMES = "--parity-runtime=litert,compiled"


def test_gate_passes_on_the_genuine_conversion(pytester, ci_profile):
    result = run_gate(pytester, "--pyargs", "signbart_parity.gate", RUNTIMES)
    # One seq_len here (to keep conversions few), so bucket consistency has no pair; and
    # no --baseline was given. Two runtimes: two targets.
    assert_gate_ran(result, read_report(pytester), targets=2, skipped=3)
    result.stdout.fnmatch_lines(["*needs two --parity-seq-lens to compare*"])
    result.stdout.fnmatch_lines(["*no --parity-baseline given*"])
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    assert written_verdicts(pytester) == (True, "PASS", "PASS")
    assert result.ret == 0
    assert [row["runtime"] for row in report["results"]] == ["compiled", "litert"]
    for row in report["results"]:
        assert row["examples"] >= 75 and row["divergence"] is None
        assert row["latency_ms"] > 0
    assert report["torch_latency_ms"]["16"] > 0
    # What was not checked is said as loudly as what was.
    skipped = [o for o in report["outcomes"] if o["outcome"] == "skipped"]
    not_checked = {o["check"]: o["message"] for o in skipped}
    assert not_checked == {
        "bucket": "needs two --parity-seq-lens to compare",
        "baseline": "no --parity-baseline given",
        "runtime-build": app_builds_not_checked(["litert", "compiled"]),
    }
    assert "3 NOT CHECKED" in report["headline"]


@pytest.mark.parametrize("fault", FAULTS)
def test_gate_fails_on_a_broken_conversion(pytester, ci_profile, fault):
    pytester.makeconftest(BROKEN_SOURCE.format(fault=fault))
    pytester.makepyfile(test_release_gate=GATE_COPY)
    result = run_gate(pytester, RUNTIMES)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 2, result.stdout.str()
    result.stdout.fnmatch_lines(["*PARITY VIOLATED*max abs err*"])
    for runtime in ("litert", "compiled"):
        result.stdout.fnmatch_lines([f"*FAILED*test_logits_match_pytorch*{runtime}*"])
        if fault in MASK_FAULTS:
            result.stdout.fnmatch_lines([f"*FAILED*test_padding_never_changes_logits*{runtime}*"])
    # The message says where in the network the file first departs from PyTorch.
    result.stdout.fnmatch_lines(["*first divergence: *"])
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    assert written_verdicts(pytester) == (False, "FAIL", "FAIL")
    failed = [o for o in report["outcomes"] if o["outcome"] == "failed"]
    assert {(o["check"], o["target"]["runtime"]) for o in failed} >= {
        ("parity", "litert"),
        ("parity", "compiled"),
    }
    assert all(o["message"] and o["target"]["seq_len"] == 16 for o in failed)
    # Localisation ran once per failing parity test (one per runtime), on the minimal
    # failing example, though hypothesis re-ran each failing test many times while shrinking.
    assert (pytester.path / "localisations.txt").read_text() == "2"
    for row in report["results"]:
        assert row["passed"] is False
        assert row["divergence"].startswith("first divergence: ")
        # Examples are the ones hypothesis generated: up to and including the first failure.
        parity = row["checks"]["parity"]
        assert 1 <= parity["examples"] <= 25 and parity["failed"] == 1


ERRORING_CHECK = """
import pytest

@pytest.fixture(autouse=True)
def break_the_padding_check(request):
    if "test_padding" in request.node.name:
        raise RuntimeError("the padding check could not start")
"""


def test_an_erroring_check_fails_the_report(pytester, ci_profile):
    """A check that errors before recording any number still fails the report, the exit
    code and the row of its target."""
    pytester.makeconftest(ERRORING_CHECK)
    pytester.makepyfile(test_release_gate=GATE_COPY)
    result = run_gate(pytester)
    assert result.parseoutcomes().get("errors") == 1, result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert written_verdicts(pytester) == (False, "FAIL", "FAIL")
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    (errored,) = [o for o in report["outcomes"] if o["outcome"] == "error"]
    assert errored["check"] == "padding"
    assert "the padding check could not start" in errored["message"]
    (row,) = report["results"]
    assert row["passed"] is False and "padding" not in row["checks"]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """Files "shipped" earlier: the default model's exports (the upstream fixture checkpoint,
    ``tflite_files``), copied out of the shared cache as an app's folder would hold them.
    Module-scoped, so the converter is imported before any pytester snapshot (which would
    unload it after each test)."""
    import shutil

    from tests.tflite_files import broken, genuine

    folder = tmp_path_factory.mktemp("shipped")
    variants = {"same": genuine(16), "flipped": broken("inverted-mask"), "seq_len_8": genuine(8)}
    return {
        name: Path(shutil.copy(path, folder / f"{name}.tflite")) for name, path in variants.items()
    }


def run_with_baseline(pytester, baseline):
    return run_gate(pytester, "--pyargs", "signbart_parity.gate", f"--parity-baseline={baseline}")


def test_baseline_of_the_same_model_passes(pytester, ci_profile, shipped):
    result = run_with_baseline(pytester, shipped["same"])
    assert_gate_ran(result, read_report(pytester), targets=1, skipped=2)
    assert "baseline" in {
        o["check"] for o in read_report(pytester)["outcomes"] if o["outcome"] == "passed"
    }


def test_baseline_whose_predictions_differ_fails(pytester, ci_profile, shipped):
    result = run_with_baseline(pytester, shipped["flipped"])
    assert_gate_ran(result, read_report(pytester), targets=1, failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*predictions flip*TOO MANY FLIPS*"])
    # Every row's numbers pass; the baseline check alone makes the report FAIL.
    assert written_verdicts(pytester) == (False, "FAIL", "FAIL")
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    assert all(check["failed"] == 0 for check in report["results"][0]["checks"].values())
    (failed,) = [o for o in report["outcomes"] if o["outcome"] == "failed"]
    assert failed["check"] == "baseline" and "flip" in failed["message"]


def test_baseline_at_a_length_the_gate_does_not_export_fails(pytester, ci_profile, shipped):
    result = run_with_baseline(pytester, shipped["seq_len_8"])
    assert_gate_ran(result, read_report(pytester), targets=1, failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*takes seq_len 8, which the gate does not export*"])

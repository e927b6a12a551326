"""The counterexample corpus: a failing gate run saves its shrunk counterexamples as golden
files, later runs replay them first and report it, ``golden check`` replays one anywhere,
and nothing is written outside the cache and report folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli import run_in_process

pytestmark = pytest.mark.slow

BROKEN = """
import pytest
from signbart_parity.checks.faults import broken_model

@pytest.fixture(scope="session")
def parity_export_source(parity_model):
    return broken_model(parity_model[0], "inverted-mask")
"""
REPLAY_ONLY = ("-k", "test_stored_counterexamples")  # the replay test alone: a quick run
GATE_COPY = "from signbart_parity.gate.test_gate import *  # noqa: F403\n"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpus-cache")


@pytest.fixture
def quiet_cwd(monkeypatch):
    """No __pycache__ from the run's conftest: every file in the folder is the run's doing."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")


# What pytester itself keeps in the folder: the subprocess's output and its basetemp.
PYTESTER_OWN = ("stdout", "stderr", "runpytest-")


def files_under(folder: Path) -> set[str]:
    names = {str(path.relative_to(folder)) for path in folder.rglob("*")}
    return {name for name in names if not name.startswith(PYTESTER_OWN)}


def run_gate(pytester, cache: Path, profile: str, *extra: str):
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--parity-seq-lens=16",
        "--parity-quantization=none",
        f"--parity-cache={cache}",
        f"--parity-profile={profile}",
        "--parity-report=report",
        *extra,
    )


def report_of(pytester) -> dict:
    return json.loads((pytester.path / "report" / "parity.json").read_text())


def stored(corpus: Path) -> list[Path]:
    return sorted(corpus.glob("*.npz"))


def test_a_failing_run_saves_counterexamples_the_next_runs_replay(
    pytester, cache, quiet_cwd, tmp_path
):
    pytester.makeconftest(BROKEN)
    pytester.makepyfile(test_release_gate=GATE_COPY)
    before = files_under(pytester.path)
    corpus = cache / "corpus"  # the default: under the cache dir

    # 1. dev profile (hypothesis's database in use): the failures are saved, shrunk.
    first = run_gate(pytester, cache, "dev")
    assert first.ret == pytest.ExitCode.TESTS_FAILED, first.stdout.str()
    saved = stored(corpus)
    checks = {json.loads(_metadata(path))["counterexample"]["check"] for path in saved}
    assert checks == {"parity", "padding"}, saved
    report = report_of(pytester)["corpus"]
    assert (report["new"], report["replayed"], report["stored"]) == (len(saved), 0, len(saved))
    first.stdout.fnmatch_lines(["*counterexamples: replayed 0 counterexamples, 0 still fail*"])
    assert (corpus / "hypothesis").is_dir()  # hypothesis's own database, in the corpus
    # Nothing written outside the cache and report folders (no .hypothesis/, no cache).
    written = files_under(pytester.path) - before
    assert {name.split("/")[0] for name in written} == {"report"}, written

    # 2. ci profile (derandomised, no database): the stored ones are replayed first.
    second = run_gate(pytester, cache, "ci")
    assert second.ret == pytest.ExitCode.TESTS_FAILED
    count = len(saved)
    second.stdout.fnmatch_lines(
        [
            "*FAILED*test_stored_counterexamples_still_pass*",
            f"*counterexamples: replayed {count} counterexamples, {count} still fail*",
        ]
    )
    data = report_of(pytester)
    report = data["corpus"]
    assert (report["replayed"], report["still_failing"]) == (count, count)
    statuses = {entry["file"]: entry["status"] for entry in report["entries"]}
    assert all(statuses[path.name] == "still fails" for path in saved)
    (replay,) = [o for o in data["outcomes"] if o["check"] == "corpus"]
    assert replay["outcome"] == "failed" and "still fail" in replay["message"]
    rows = sum(len(np.load(path)["logits"]) for path in saved)
    assert data["results"][0]["checks"]["corpus"]["examples"] == rows
    assert data["results"][0]["checks"]["corpus"]["failed"] >= count
    markdown = (pytester.path / "report" / "parity.md").read_text()
    assert "### Counterexample corpus" in markdown and saved[0].name in markdown
    assert saved[0].name in (pytester.path / "report" / "parity.html").read_text()
    broken_file = data["results"][0]["file"]

    # 3. the genuine conversion: every counterexample is replayed and now passes.
    for path in (pytester.path / "conftest.py", pytester.path / "test_release_gate.py"):
        path.unlink()
    third = run_gate(pytester, cache, "ci", "--pyargs", "signbart_parity.gate", *REPLAY_ONLY)
    total = len(stored(corpus))
    third.stdout.fnmatch_lines([f"*replayed {total} counterexamples, 0 still fail*"])
    assert third.ret == pytest.ExitCode.OK, third.stdout.str()
    genuine_file = report_of(pytester)["results"][0]["file"]
    assert genuine_file != broken_file

    # 4. golden check replays a corpus file anywhere: the broken file fails, the genuine passes.
    copied = tmp_path / saved[0].name
    copied.write_bytes(saved[0].read_bytes())
    assert (
        run_in_process("golden", "check", "--tflite", broken_file, "--golden", copied).returncode
        == 1
    )
    done = run_in_process("golden", "check", "--tflite", genuine_file, "--golden", copied)
    assert done.returncode == 0, done.stdout


def _metadata(path: Path) -> str:
    with np.load(path, allow_pickle=False) as npz:
        return str(npz["metadata"][0])


def test_a_model_that_is_not_the_default(pytester, cache, quiet_cwd, tmp_path):
    """100 keypoints, 7 labels: its counterexamples are its own, replayed on it, checked by
    golden check; another model's stored counterexample is listed, not replayed."""
    from tests.helpers import write_model

    config, checkpoint = write_model(tmp_path, keypoints=100)
    corpus = tmp_path / "team-corpus"
    pytester.makeconftest(BROKEN)
    pytester.makepyfile(test_release_gate=GATE_COPY)
    model = (f"--parity-config={config}", f"--parity-checkpoint={checkpoint}")
    first = run_gate(pytester, cache, "dev", *model, f"--parity-corpus={corpus}")
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    saved = stored(corpus)
    assert saved and all(json.loads(_metadata(p))["num_keypoints"] == 100 for p in saved)
    # A counterexample of the default (90-keypoint) model in the same folder.
    other = _save_default_model_counterexample(corpus)
    # Under xdist: the statuses reach the controller that writes the report.
    second = run_gate(
        pytester, cache, "ci", *model, f"--parity-corpus={corpus}", *REPLAY_ONLY, "-n", "2"
    )
    second.stdout.fnmatch_lines([f"*replayed {len(saved)} counterexamples, {len(saved)} still*"])
    statuses = {e["file"]: e["status"] for e in report_of(pytester)["corpus"]["entries"]}
    assert statuses[other.name] == "not replayed: another model (90 keypoints, 10 labels)"
    broken_file = report_of(pytester)["results"][0]["file"]
    done = run_in_process("golden", "check", "--tflite", broken_file, "--golden", saved[0])
    assert done.returncode == 1, done.stdout
    assert "PARITY VIOLATED" in done.stdout


def _save_default_model_counterexample(corpus: Path) -> Path:
    from signbart_parity.checks.corpus import save_counterexample
    from signbart_parity.model.default import load_model_or_default, resolve_model_paths
    from signbart_parity.targets import Target

    model, config = load_model_or_default(None, None)
    config_path, checkpoint_path = resolve_model_paths(None, None)
    rng = np.random.default_rng(0)
    keypoints = rng.random((1, 16, config.min_input_keypoints, 2), dtype=np.float32)
    path, new = save_counterexample(
        corpus,
        model=model,
        config=config,
        config_path=config_path,
        checkpoint_path=checkpoint_path,
        target=Target(16, "none", "litert"),
        check="parity",
        keypoints=keypoints,
        masks=np.ones((1, 16), dtype=np.int64),
        descriptions=["uniform keypoints, all-valid mask"],
    )
    assert new
    return path

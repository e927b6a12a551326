"""The CI matrix, run here: the workflow passes GitHub's workflow schema, and its steps
(ci/shard.sh, ci/merge.sh) run real gates as shards whose merged report is the one run's report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.lanes import INSTALL, PREFIX, lanes_required

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "parity.yml"
SHARD, MERGE = ROOT / "ci" / "shard.sh", ROOT / "ci" / "merge.sh"
# Small and derandomised (the ci profile draws the same examples in every process), so the
# shards draw what the single run draws: 1 seq_len x 2 precisions x 2 runtimes.
SMALL = ["--parity-seq-lens=16", "--parity-quantization=fp32,dynamic-int8", "--parity-profile=ci"]
LANE = "litert,tensorflow"
VOLATILE = {"latency_ms"}  # measured per process: never equal between two runs


# ---------------------------------------------------------------- the workflow


def workflow_lint(path) -> subprocess.CompletedProcess:
    """check-jsonschema (the ``dev`` extra) against GitHub's workflow schema, which it ships
    (no network); skipped loudly outside CI where it is missing."""
    beside = Path(sys.executable).with_name("check-jsonschema")  # this venv, activated or not
    found = str(beside) if beside.is_file() else shutil.which("check-jsonschema")
    if found is None:
        reason = "check-jsonschema missing"
        if lanes_required():
            pytest.fail(f"workflow lint is required here but {reason}: pip install -e '.[dev]'")
        pytest.skip(f"{PREFIX}workflow lint ({reason}): pip install -e '.[dev]' ({INSTALL})")
    command = [found, "--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_workflow_passes_the_workflow_schema_and_a_broken_one_does_not(tmp_path):
    done = workflow_lint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("runs-on:", "run-on:", 1))
    refused = workflow_lint(broken)
    assert refused.returncode != 0 and "run-on" in refused.stdout + refused.stderr


def test_the_workflow_runs_the_scripts_over_lanes_and_shards():
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    shard_job, merge_job = workflow["jobs"]["shard"], workflow["jobs"]["merge"]
    matrix = shard_job["strategy"]["matrix"]
    assert matrix["lane"] == ["litert", "tflite-runtime==2.14.0", "litert@arm64", "compiled@gpu"]
    assert len(matrix["shard"]) == int(workflow["env"]["SHARD_COUNT"])
    runs = " ".join(step.get("run", "") for step in shard_job["steps"])
    assert "bash ci/shard.sh" in runs
    assert "bash ci/merge.sh" in " ".join(step.get("run", "") for step in merge_job["steps"])
    assert merge_job["if"] == "always()"  # a crashed shard is named missing by the merge
    caches = [step["with"]["key"] for step in shard_job["steps"] if "cache" in step.get("uses", "")]
    assert caches and all("hashFiles(" in key for key in caches)


# ---------------------------------------------------------------- the scripts, for real


def _run(command: list, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def _gate(cwd: Path, report: str, *options: str) -> subprocess.CompletedProcess:
    """The gate as one machine runs it (no shard)."""
    command = [sys.executable, "-m", "pytest", "--pyargs", "signbart_parity.gate"]
    command += ["-p", "no:cacheprovider", f"--parity-report={report}", *options]
    return _run(command, cwd)


def _shards(cwd: Path, count: int, *options: str, **env: str) -> list[Path]:
    paths = []
    for number in range(1, count + 1):
        done = _run(["bash", SHARD, number, count, LANE, "reports", *options], cwd, **env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        paths.append(cwd / "reports" / "litert-tensorflow" / f"shard-{number}" / "parity.json")
    return paths


def _merge(cwd: Path, *paths: Path) -> subprocess.CompletedProcess:
    command = ["signbart-parity", "report", "merge", *paths, "--output", cwd / "merged"]
    return _run(command, cwd)


def _same_run(single: dict, merged: dict) -> None:
    """The merged report is what one machine wrote: rows, outcomes, verdict, not checked."""
    from signbart_parity.reports.model import Report
    from signbart_parity.reports.text import not_checked_lines

    def rows(data):
        return [{k: v for k, v in row.items() if k not in VOLATILE} for row in data["results"]]

    def outcomes(data):
        return sorted(data["outcomes"], key=lambda outcome: outcome["nodeid"])

    assert rows(merged) == rows(single)
    assert outcomes(merged) == outcomes(single)
    assert (merged["passed"], merged["headline"]) == (single["passed"], single["headline"])
    one, many = Report.from_dict(single), Report.from_dict(merged)
    assert not_checked_lines(many) == not_checked_lines(one) != []


def _one_line_refusal(done: subprocess.CompletedProcess, *phrases: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stdout + done.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


@pytest.fixture(scope="module")
def default_runs(tmp_path_factory) -> tuple[Path, dict, list[Path]]:
    """The embedded default as one run and as 3 shards (ci/shard.sh), same options."""
    where = tmp_path_factory.mktemp("default")
    single = _gate(where, "single", f"--parity-runtime={LANE}", *SMALL)
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-3000:]
    # The jobs run at a repository's root, whose test conftest must not change the gate
    # (this repository's points the cache at the test suite's folder).
    (where / "tests").mkdir()
    (where / "tests" / "conftest.py").write_text("raise RuntimeError('a shard loaded me')\n")
    shards = _shards(where, 3, *SMALL)
    return where, json.loads((where / "single" / "parity.json").read_text()), shards


@pytest.mark.slow
def test_three_shards_merged_by_the_ci_script_are_the_single_run(default_runs, tmp_path):
    where, single, shards = default_runs
    assert [json.loads(p.read_text())["shard"] for p in shards] == ["1/3", "2/3", "3/3"]
    summary = tmp_path / "summary.md"
    done = _run(["bash", MERGE, where / "reports", tmp_path / "merged"], where,
                GITHUB_STEP_SUMMARY=str(summary))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    merged = json.loads((tmp_path / "merged" / "litert-tensorflow" / "parity.json").read_text())
    _same_run(single, merged)
    assert (tmp_path / "merged" / "litert-tensorflow" / "parity.html").is_file()
    assert summary.read_text().startswith("## SignBart TFLite parity — PASS")


@pytest.mark.slow
def test_a_missing_or_repeated_shard_of_a_real_run_is_refused(default_runs):
    where, _, shards = default_runs
    _one_line_refusal(
        _merge(where, shards[0], shards[2]),
        f"missing shard 2/3 of the run (given: 1/3 {shards[0]}, 3/3 {shards[2]})",
    )
    _one_line_refusal(
        _merge(where, *shards, shards[1]),
        f"shard 2/3 is given twice ({shards[1]} and {shards[1]})",
    )
    whole = where / "single" / "parity.json"
    _one_line_refusal(_merge(where, whole, whole), "both checked 16|dynamic-int8|litert")
    assert not (where / "merged").exists()


@pytest.mark.slow
def test_a_model_that_is_not_the_default_shards_too_and_its_shard_is_foreign(
    default_runs, tmp_path
):
    """A 100-keypoint model: 2 shards merged are its single run; one of its shards among
    the default model's is refused, naming the field that differs."""
    from tests.helpers import write_model

    config, checkpoint = write_model(tmp_path)
    model = [f"--parity-checkpoint={checkpoint}", f"--parity-config={config}"]
    single = _gate(tmp_path, "single", f"--parity-runtime={LANE}", *model, *SMALL)
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-3000:]
    shards = _shards(
        tmp_path, 3, *SMALL, PARITY_CHECKPOINT=str(checkpoint), PARITY_CONFIG=str(config)
    )
    done = _merge(tmp_path, *shards)
    assert done.returncode == 0, done.stdout + done.stderr
    merged = json.loads((tmp_path / "merged" / "parity.json").read_text())
    _same_run(json.loads((tmp_path / "single" / "parity.json").read_text()), merged)

    where, _, default_shards = default_runs
    foreign = _merge(where, default_shards[0], default_shards[1], shards[2])
    _one_line_refusal(foreign, f"{shards[2]} is a shard of another run: its weights is")

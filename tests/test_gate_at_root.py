"""The release gate as users run it at this repository's root, on a model that is not the
embedded default: 100 keypoints per frame, d_model 96, 6 heads, 7 labels, saved in the
training-loop layout. Only the gate runs; the real-sample check says why it cannot run
until the user passes samples of the model's own layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_model, write_sample

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_100(tmp_path_factory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("model-100")
    config, checkpoint = write_model(folder, keypoints=100)
    return config, checkpoint, folder / "cache"


def gate_at_root(config: Path, checkpoint: Path, cache: Path, report: Path, *extra: str):
    """``pytest --checkpoint=... --config=...`` in the repository root, as a user types it."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-rs",
        f"--checkpoint={checkpoint}",
        f"--config={config}",
        f"--parity-cache={cache}",
        f"--parity-report={report}",
        *extra,
    ]
    env = os.environ | {"SIGNBART_PARITY_PROFILE": "ci"}
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def test_the_gate_alone_passes_a_100_keypoint_model_and_says_what_it_skipped(model_100, tmp_path):
    config, checkpoint, cache = model_100
    done = gate_at_root(config, checkpoint, cache, tmp_path / "report")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = [line for line in done.stdout.splitlines() if "::" in line or ".py " in line]
    assert collected and all("signbart_parity/gate/test_gate.py" in line for line in collected)
    assert "tests/" not in done.stdout
    report = json.loads((tmp_path / "report" / "parity.json").read_text())
    assert report["passed"] is True
    assert all(row["passed"] and row["examples"] > 0 for row in report["results"])
    skipped = [o for o in report["outcomes"] if o["check"] == "real-sample"]
    assert len(skipped) == 4 and {o["outcome"] for o in skipped} == {"skipped"}
    reason = skipped[0]["message"]
    assert reason.startswith("real samples: not checked: the bundled sample has 90 keypoints")
    assert "needs 100" in reason and "--parity-samples" in reason
    markdown = (tmp_path / "report" / "parity.md").read_text()
    assert "NOT CHECKED" in markdown.splitlines()[0]
    assert "real samples: not checked" in markdown
    assert "real samples: not checked" in done.stdout  # pytest's own skip summary too


def test_a_fitting_100_keypoint_sample_is_checked(model_100, tmp_path):
    config, checkpoint, cache = model_100
    sample = write_sample(tmp_path, keypoints=100)
    done = gate_at_root(
        config, checkpoint, cache, tmp_path / "report", f"--parity-samples={sample}"
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "parity.json").read_text())
    real = [o for o in report["outcomes"] if o["check"] == "real-sample"]
    assert len(real) == 4 and {o["outcome"] for o in real} == {"passed"}
    assert all(row["checks"]["real-sample"]["examples"] == 1 for row in report["results"])
    assert report["conversions"] == 0  # the first test's exports, served from the cache


def test_a_passed_sample_that_does_not_fit_is_one_usage_error(model_100, tmp_path):
    config, checkpoint, cache = model_100
    sample = write_sample(tmp_path, keypoints=90)
    done = gate_at_root(
        config, checkpoint, cache, tmp_path / "report", f"--parity-samples={sample}"
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert f"{sample} has 90 keypoints per frame but the model needs 100" in errors[0]
    assert not (tmp_path / "report").exists()

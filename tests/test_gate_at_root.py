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
from tests.tflite_files import cache_root

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_100(tmp_path_factory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("model-100")
    config, checkpoint = write_model(folder, keypoints=100)
    # The tests' shared export cache: its files are the ones ``hundred_keypoint`` makes.
    return config, checkpoint, cache_root()


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
        f"--parity-corpus={report.parent / 'corpus'}",  # the run's own, not the shared cache's
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
    # One line per check, its reason once, the targets as the tables name them.
    (line,) = [x for x in markdown.splitlines() if x.startswith("- real-sample: NOT CHECKED on")]
    assert "seq_len 16, fp32, litert; " in line and line.count("not checked") == 0
    assert line.endswith(reason.removeprefix("real samples: not checked: "))
    assert line[2:] in done.stdout  # the terminal summary says the same
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


# ---------------------------------------------------------------- as users type it


def pytest_at_root(*args: str, cwd: Path = ROOT):
    """``pytest ARGS`` exactly as typed (values after a space), in ``cwd``."""
    env = os.environ | {"SIGNBART_PARITY_PROFILE": "ci"}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def ran_only_the_gate(stdout: str) -> bool:
    """pytest's progress lines name test_gate.py and no other file."""
    files = {line.split()[0] for line in stdout.splitlines() if ".py " in line}
    return bool(files) and all(Path(name).name == "test_gate.py" for name in files)


def test_space_separated_paths_outside_the_repository_run_exactly_the_gate(model_100, tmp_path):
    """Every path option after a space, every path outside the checkout, an existing report
    folder: the gate alone runs (pytest roots the run at the paths' folder) and passes."""
    from tests.cli import run_cli

    config, checkpoint, cache = model_100
    sample = write_sample(tmp_path, keypoints=100)
    shipped = tmp_path / "shipped.tflite"
    made = run_cli(
        "convert", "--config", config, "--checkpoint", checkpoint, "--seq-len", "16",
        "--output", shipped, "--cache", cache,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    report = tmp_path / "report"
    report.mkdir()  # a CI workspace that already has it
    done = pytest_at_root(
        "--checkpoint", str(checkpoint), "--config", str(config),
        "--parity-report", str(report), "--parity-cache", str(cache),
        "--parity-corpus", str(tmp_path / "corpus"),
        "--parity-baseline", str(shipped), "--parity-samples", str(sample),
        "--parity-seq-lens", "16", "--parity-quantization", "none",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert ran_only_the_gate(done.stdout), done.stdout[-3000:]
    data = json.loads((report / "parity.json").read_text())
    assert data["passed"] is True
    checks = {o["check"]: o["outcome"] for o in data["outcomes"]}
    assert checks["baseline"] == "passed" and checks["real-sample"] == "passed"
    assert "add --rootdir=. to root the run here" in done.stdout


def test_explicit_test_paths_are_honoured_next_to_gate_options(model_100):
    config, checkpoint, _ = model_100
    done = pytest_at_root(
        "--checkpoint", str(checkpoint), "--config", str(config), "tests/test_config.py", "-q"
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "test_gate" not in done.stdout and " passed" in done.stdout


def test_pyargs_from_another_project_runs_only_the_gate(model_100, tmp_path):
    """A project with its own ini, conftest and tests: ``--pyargs signbart_parity.gate``
    runs the gate and none of the project's tests."""
    config, checkpoint, cache = model_100
    (tmp_path / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    (tmp_path / "conftest.py").write_text("import pytest\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_theirs.py").write_text("def test_theirs():\n    assert False\n")
    done = pytest_at_root(
        "--pyargs", "signbart_parity.gate", "--checkpoint", str(checkpoint), "--config",
        str(config), "--parity-cache", str(cache), "--parity-corpus", str(tmp_path / "corpus"),
        "--parity-seq-lens", "16",
        "--parity-quantization", "none", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert ran_only_the_gate(done.stdout), done.stdout[-3000:]
    assert "1 failed" not in done.stdout  # their deliberately failing test never ran


def test_a_checkout_below_the_paths_common_folder_is_told_where_pytest_rooted_the_run(
    model_100, tmp_path
):
    """A checkout in the same temporary folder as the paths (``/tmp/repo`` with
    ``/tmp/data/best.pth``): pytest roots the run at their common folder, which holds no
    ini file, so the checkout's own pytest.ini is not read; the header says so."""
    config, checkpoint, _ = model_100
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pytest.ini").write_text((ROOT / "pytest.ini").read_text())
    # Collection converts nothing; a cache beside the checkpoint keeps the paths' common
    # folder what this test is about (pytest counts a path-valued option's value among them).
    done = pytest_at_root(
        "--collect-only", "--checkpoint", str(checkpoint), "--config", str(config),
        "--parity-cache", str(checkpoint.parent / "cache"),
        "--pyargs", "signbart_parity.gate", cwd=checkout,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rootdir = Path(os.path.commonpath([checkout, checkpoint.parent]))
    assert f"pytest chose rootdir {rootdir}" in done.stdout, done.stdout[-3000:]
    assert "add --rootdir=. to root the run here" in done.stdout


@pytest.mark.parametrize(
    "old, value, new",
    [("--seq-lens", "64", "--parity-seq-lens"), ("--quantization", "none", "--parity-quantization"),
     ("--baseline", "old.tflite", "--parity-baseline")],
)  # fmt: skip
def test_the_previous_option_names_say_what_they_became(old, value, new):
    done = pytest_at_root(old, value)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [f"ERROR: {old} is now {new} (every gate option is namespaced since 0.1); "
                      "rename it on your command line or in addopts."]  # fmt: skip

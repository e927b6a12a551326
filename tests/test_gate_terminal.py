"""The gate as another project runs it (``pytest --pyargs signbart_parity.gate`` in a folder
with no pytest.ini of ours), on a model that is not the embedded default (100 keypoints,
d_model 96): the terminal says what ran, what failed and what was not checked, with or
without --parity-report and under xdist; the toolchain's warnings and notices stay out of
it, and the project's own warnings stay in."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_model
from tests.tflite_files import cache_root, hundred_keypoint

pytestmark = pytest.mark.slow

THEIR_TEST = """
import warnings

def test_theirs():
    warnings.warn("their own deprecation", FutureWarning)
"""
# What the toolchain would print: its warnings, and TFLite's delegate notice from C++.
TOOLCHAIN_WARNING = re.compile(r"(Future|Deprecation|User)Warning: (?!their own deprecation)")
TOOLCHAIN_LINE = re.compile(r"^(INFO|WARNING): |XNNPACK|LeafSpec", re.M)


@pytest.fixture(scope="module")
def model_100(tmp_path_factory) -> tuple[Path, Path]:
    return write_model(tmp_path_factory.mktemp("model-100"), keypoints=100)


def gate_elsewhere(
    folder: Path, model: tuple[Path, Path], *extra: str, cache: Path | None = None
) -> tuple[str, int]:
    """``pytest --pyargs signbart_parity.gate`` in ``folder`` (no pytest.ini, no conftest);
    stdout and stderr together, and the exit code. The tests' shared export cache unless
    ``cache`` is given."""
    config, checkpoint = model
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs",
        "signbart_parity.gate", f"--parity-checkpoint={checkpoint}", f"--parity-config={config}",
        "--parity-seq-lens=8", "--parity-quantization=none,dynamic-int8",
        "--parity-profile=dev", f"--parity-cache={cache or cache_root()}", *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "SIGNBART_PARITY_PROFILE"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    return done.stdout + done.stderr, done.returncode


def summary(output: str) -> list[str]:
    """The gate's section of the terminal summary."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "signbart-parity" in line and "==" in line)
    return [line for line in lines[start + 1 :] if not line.startswith("==")]


def test_from_an_empty_folder_the_gate_is_quiet_and_says_what_it_did(model_100, tmp_path):
    (tmp_path / "test_theirs.py").write_text(THEIR_TEST)
    # Cold: the conversions are where torch.export warns (LeafSpec...).
    cache = tmp_path / "cold-cache"
    # A folder name that would clear the screen if printed raw: shown escaped.
    corpus = "--parity-corpus=" + str(tmp_path / "corpus-\x1b[2J")
    output, code = gate_elsewhere(tmp_path, model_100, "test_theirs.py", corpus, cache=cache)
    assert "\x1b" not in output and "corpus-\\x1b[2J" in output, output[-4000:]
    assert code == 0, output[-4000:]
    assert not TOOLCHAIN_WARNING.findall(output), output[-4000:]
    assert not TOOLCHAIN_LINE.findall(output), output[-4000:]
    assert "their own deprecation" in output  # their warnings are theirs to see
    lines = summary(output)
    # What ran, with its headroom; the int8 row with the logit scale its bound is relative to.
    assert lines[0].startswith("SignBart parity report: PASS"), lines
    fp32 = next(line for line in lines if line.startswith("  seq_len 8, fp32, litert: PASS"))
    int8_line = "  seq_len 8, dynamic-int8, litert: PASS"
    int8 = next(line for line in lines if line.startswith(int8_line))
    assert re.search(r"worst [\d.e-]+x bound$", fp32), fp32
    assert re.search(r"worst [\d.e-]+x bound, logit scale [\d.]+$", int8), int8
    # What was not checked: one line per check, targets as the tables name them.
    real = [line for line in lines if line.startswith("  real-sample: NOT CHECKED")]
    assert real == [
        "  real-sample: NOT CHECKED on seq_len 8, fp32, litert; seq_len 8, dynamic-int8, litert: "
        "the bundled sample has 90 keypoints per frame but this model needs 100; pass "
        "--parity-samples with samples of this model's layout"
    ]
    assert any(
        line.startswith("  baseline: NOT CHECKED: no --parity-baseline given") for line in lines
    )
    assert lines[-1] == "  no report written (add --parity-report DIR)"
    assert "none" not in "\n".join(lines)


def test_under_xdist_no_toolchain_line_and_each_file_counts_once(model_100, tmp_path):
    # Both files in the shared cache (model_100 is the model ``hundred_keypoint`` exports).
    hundred_keypoint(8), hundred_keypoint(8, "dynamic-int8")
    output, code = gate_elsewhere(
        tmp_path, model_100, "-n", "2", "--parity-report=report", "-rs", "-v"
    )
    assert code == 0, output[-4000:]
    assert not TOOLCHAIN_LINE.findall(output), output[-4000:]
    assert not TOOLCHAIN_WARNING.findall(output), output[-4000:]
    report = json.loads((tmp_path / "report" / "parity.json").read_text())
    # Two files, each found by both workers: two cache hits, not four.
    assert (report["conversions"], report["cache_hits"]) == (0, 2)
    lines = summary(output)
    assert "0 conversions, 2 cache hits" in lines[0]
    # One row line per target (each worker holds both rows; the controller merges them);
    # the numbers outside the app contract are indented under their own heading.
    rows = [line for line in lines if re.match(r"  seq_len 8, [\w-]+, litert: PASS", line)]
    assert len(rows) == 2 and all("x bound" in line for line in rows), lines
    assert any(line.startswith("  real-sample: NOT CHECKED on seq_len 8, fp32") for line in lines)
    assert all(row["bound_ratio"] < 1 for row in report["results"])
    # The skipped parameters are named for what they mean.
    assert "[no baseline given]" in output and "[no matching seq_len]" not in output
    assert "[one seq_len]" in output

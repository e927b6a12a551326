"""Checkpoints as users' training loops save them, broken weights, a quiet CLI, and
interrupted commands that leave nothing behind. Every test runs the real command in a
subprocess, on a model unlike the embedded default (100 keypoints, d_model 96, 6 heads,
7 labels) unless the default's own noise is the point."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from signbart_parity.checks.properties import logits_parity
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.inputs.masks import MASK_KINDS, mask_patterns
from signbart_parity.model.checkpoint import load_signbart_model, read_state_dict
from signbart_parity.runtime.run.tflite import TFLiteModel
from tests.cli import one_error_line, run_cli
from tests.helpers import write_model
from tests.tflite_files import cache_root

pytestmark = pytest.mark.slow
LAYOUTS = {
    "pytorch-tutorial": lambda sd: {
        "epoch": 12,
        "model_state_dict": sd,
        "optimizer_state_dict": {"state": {}, "param_groups": []},
        "loss": 0.42,
    },
    "data-parallel": lambda sd: {f"module.{key}": value for key, value in sd.items()},
}
# What the toolchain prints when nothing silences it (seen on a fresh machine).
TOOLCHAIN_NOISE = (
    "absl::InitializeLog",
    "oneDNN",
    "torchao",
    "_pytree",
    "LeafSpec",
    "XNNPACK",
    "%|",
    "UserWarning",
    "FutureWarning",
)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, Path]:
    return write_model(tmp_path_factory.mktemp("model"), training_layout=False)


def resave(checkpoint: Path, layout: str, folder: Path) -> Path:
    path = folder / f"{layout}.pth"
    torch.save(LAYOUTS[layout](dict(read_state_dict(checkpoint))), path)
    return path


@pytest.fixture(scope="module")
def converted(model, tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Each training-loop layout converted by the CLI, once per module, through the tests'
    shared export cache: the weights are ``hundred_keypoint_model``'s, however saved."""
    config, checkpoint = model
    folder = tmp_path_factory.mktemp("layouts")
    results = {}
    for layout in LAYOUTS:
        saved = resave(checkpoint, layout, folder)
        output = folder / f"{layout}.tflite"
        done = run_cli(
            "convert",
            "--config",
            str(config),
            "--checkpoint",
            str(saved),
            "--cache",
            str(cache_root()),
            "--output",
            str(output),
            "--seq-len",
            "16",
        )
        results[layout] = saved, done
    return results


@pytest.mark.parametrize("layout", LAYOUTS)
def test_training_loop_layouts_convert_and_match_pytorch(model, converted, layout):
    config, checkpoint = model
    saved, done = converted[layout]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parity holds" in done.stdout
    expected = {
        "pytorch-tutorial": "state_dict under 'model_state_dict'",
        "data-parallel": "keys prefixed 'module.' (DataParallel/DDP; prefix removed)",
    }
    assert expected[layout] in done.stderr
    # The file computes the original model's logits, in the real runtime.
    original, _ = load_signbart_model(config, checkpoint)
    tflite = TFLiteModel(saved.with_suffix(".tflite"))
    masks = np.stack([mask_patterns(16)[kind] for kind in MASK_KINDS])
    keypoints = np.random.default_rng(0).random((len(masks), 16, 100, 2), dtype=np.float32)
    assert logits_parity(original, tflite, tolerance_for("none"), keypoints, masks)


def test_verify_and_its_report_say_which_layout_was_found(model, converted, tmp_path):
    config, _ = model
    saved, _ = converted["pytorch-tutorial"]
    done = run_cli(
        "verify",
        "--config",
        str(config),
        "--checkpoint",
        str(saved),
        "--tflite",
        str(saved.with_suffix(".tflite")),
        "--examples",
        "12",
        "--report",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{saved} (state_dict under 'model_state_dict')" in done.stdout
    report = json.loads((tmp_path / "parity.json").read_text())
    assert report["checkpoint"]["layout"] == "state_dict under 'model_state_dict'"
    assert "state_dict under 'model_state_dict'" in (tmp_path / "parity.md").read_text()


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_checkpoint_with_a_non_finite_weight_exits_2_and_writes_nothing(model, tmp_path, value):
    config, checkpoint = model
    state = dict(read_state_dict(checkpoint))
    state["encoder.layers.0.fc1.weight"] = state["encoder.layers.0.fc1.weight"].clone()
    state["encoder.layers.0.fc1.weight"][0, 0] = float(value)
    broken = tmp_path / "diverged.pth"
    torch.save({"model": state, "epoch": 40}, broken)
    output = tmp_path / "out" / "model.tflite"
    line = one_error_line(
        run_cli(
            "convert",
            "--config",
            str(config),
            "--checkpoint",
            str(broken),
            "--output",
            str(output),
            "--seq-len",
            "16",
        )
    )
    assert str(broken) in line
    assert "parameter 'encoder.layers.0.fc1.weight' holds 1 NaN/Inf value(s)" in line
    assert not output.parent.exists() or not any(output.parent.iterdir())


@pytest.mark.parametrize("quantization", ["dynamic-int8", "static-int8"])
def test_convert_prints_only_its_own_lines(tmp_path, quantization):
    """Conversion, quantization (calibration for static-int8), the TFLite runtime (--test);
    an empty export cache, so the fp32 file is converted first, then quantized (fp32 alone
    would add nothing: its conversion is part of both)."""
    done = run_cli(
        "convert",
        "--cache",
        str(tmp_path / "cache"),
        "--output",
        str(tmp_path / "m.tflite"),
        "--seq-len",
        "16",
        "--quantization",
        quantization,
        "--test",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    theirs = [line for line in done.stderr.splitlines() if not line.startswith("... ")]
    assert theirs == [], theirs
    assert not any(noise in done.stdout + done.stderr for noise in TOOLCHAIN_NOISE)


def test_verbose_lets_the_toolchain_speak(tmp_path):
    """The same kind of run with --verbose: the silence above is the filter's doing."""
    done = run_cli(
        "convert",
        "--cache",
        str(tmp_path / "cache"),
        "--output",
        str(tmp_path / "m.tflite"),
        "--seq-len",
        "16",
        "--quantization",
        "static-int8",
        "--test",
        "--verbose",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(noise in done.stderr for noise in TOOLCHAIN_NOISE) >= 3, done.stderr


def test_a_toolchain_failure_is_still_one_clear_line(model, tmp_path):
    config, checkpoint = model
    done = run_cli(
        "convert",
        "--config",
        str(config),
        "--checkpoint",
        str(checkpoint),
        "--output",
        str(tmp_path / "m.tflite"),
        "--seq-len",
        "300",
    )
    line = one_error_line(done)
    assert "seq_len 300 is outside 1..256" in line


def _start(args: list[str], cwd: Path, *, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the conversion never started"
        time.sleep(0.05)


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b""
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("quantization", ["none", "dynamic-int8"])
def test_sigterm_during_convert_leaves_the_output_folder_as_it_was(model, tmp_path, quantization):
    config, checkpoint = model
    folder = tmp_path / "app-assets"
    folder.mkdir()
    (folder / "model.tflite").write_bytes(b"the file the app shipped last month")
    before = _tree(folder)
    process = _start(
        [
            sys.executable,
            "-m",
            "signbart_parity.cli",
            "convert",
            "--config",
            str(config),
            "--checkpoint",
            str(checkpoint),
            "--cache",  # empty: the signal comes during the conversion
            str(tmp_path / "cache"),
            "--output",
            str(folder / "model.tflite"),
            "--quantization",
            quantization,
            "--seq-len",
            "16",
        ],
        tmp_path,
    )
    # The converter is imported and running once torch has been loaded for a while.
    _wait_for(lambda: "torch" in _loaded_modules(process.pid), process)
    time.sleep(2.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "interrupted; no partial output was left" in stderr
    assert _tree(folder) == before


def _loaded_modules(pid: int) -> str:
    """The shared libraries a process has mapped (torch's once it imported torch)."""
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def test_sigterm_during_a_gate_export_leaves_no_cache_entry(model, tmp_path):
    config, checkpoint = model
    cache = tmp_path / "cache"
    env = os.environ | {"SIGNBART_PARITY_PROFILE": "ci"}
    process = _start(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--pyargs",
            "signbart_parity.gate",
            f"--checkpoint={checkpoint}",
            f"--config={config}",
            f"--parity-cache={cache}",
            "--parity-seq-lens=16",
            "--parity-quantization=none",
        ],
        tmp_path,
        env=env,
    )
    # An entry folder (``<key[:2]>/<key>``; the corpus and hypothesis's files sit beside
    # the shards) exists from the moment its conversion starts.
    _wait_for(lambda: any(p.is_dir() for p in cache.glob("??/*")), process)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    entries = [p for p in cache.glob("??/*") if not p.name.endswith(".lock")]
    assert entries == [], (entries, stdout[-2000:], stderr[-2000:])
    assert not re.search(r"\.partial$", "\n".join(str(p) for p in cache.rglob("*")))

"""`signbart-parity convert`, run in-process: real conversions, and bad input refused cleanly."""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from signbart_parity.checks.properties import logits_parity
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.cli.main import main
from signbart_parity.inputs.masks import MASK_KINDS, mask_patterns
from signbart_parity.model.checkpoint import load_signbart_model
from signbart_parity.model.default import DEFAULT_CHECKPOINT, DEFAULT_CONFIG
from signbart_parity.runtime.run.tflite import TFLiteModel
from tests.helpers import (
    CHECKPOINT,
    CONFIG,
    TouchOnUnpickle,
    truncated_copy,
    write_config,
    write_text,
)
from tests.tflite_files import MODEL_ARGS, cache_root, fixture_model

ERROR_PREFIX = "signbart-parity: error:"
MB = 1e6
# The dynamic-int8 file is 1.02e6 bytes: 0.69 MB of int8 weights plus fp32 biases, LayerNorms
# and position rows, per-channel scales and ~0.12 MB of tensor names. Under 1 MiB, not 1e6.
MIB = 2**20

# name: (extra argv, quantization, config, checkpoint, size bounds in bytes).
# Each is converted once per module; the spellings --seq_len / --seq-len / default all appear.
ARTIFACTS = {
    "default-fp32": (
        ["--seq_len", "64", "--test"],
        "none",
        DEFAULT_CONFIG,
        DEFAULT_CHECKPOINT,
        (2.5 * MB, 3.5 * MB),
    ),
    "upstream-fp32": (
        ["--config", str(CONFIG), "--checkpoint", str(CHECKPOINT)],
        "none",
        CONFIG,
        CHECKPOINT,
        (2.5 * MB, 3.5 * MB),
    ),
    "default-dynamic-int8": (
        ["--seq-len", "64", "--quantization", "dynamic-int8", "--test"],
        "dynamic-int8",
        DEFAULT_CONFIG,
        DEFAULT_CHECKPOINT,
        (0, MIB),
    ),
}


@dataclass
class Run:
    name: str
    code: int
    out: str
    err: str
    path: Path
    quantization: str
    model: torch.nn.Module


@pytest.fixture(scope="module", params=list(ARTIFACTS))
def run(request, tmp_path_factory):
    argv, quantization, config, checkpoint, _ = ARTIFACTS[request.param]
    path = tmp_path_factory.mktemp(request.param) / "model.tflite"
    out, err = io.StringIO(), io.StringIO()
    # capsys is function-scoped; a module-scoped conversion captures its own output.
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["convert", "--output", str(path), "--cache", str(cache_root()), *argv])
    model, _ = load_signbart_model(config, checkpoint)
    return Run(request.param, code, out.getvalue(), err.getvalue(), path, quantization, model)


@pytest.mark.slow
def test_convert_writes_a_file_and_reports_parity(run):
    low, high = ARTIFACTS[run.name][4]

    assert run.code == 0, run.out + run.err
    assert "Traceback" not in run.err
    assert low < run.path.stat().st_size < high
    assert list(run.path.parent.iterdir()) == [run.path], "no temporary file is left behind"
    assert f"wrote {run.path}" in run.out
    assert "parity holds" in run.out and "PARITY VIOLATED" not in run.out


@pytest.mark.slow
def test_test_flag_prints_prediction_and_signature(run):
    if "--test" not in ARTIFACTS[run.name][0]:
        assert "predicted class" not in run.out
        return
    assert re.search(r"predicted class \d with confidence (0\.\d{3}|1\.000)", run.out), run.out
    mask_line = next(line for line in run.out.splitlines() if "attention_mask" in line)
    assert "int32[1, 64]" in mask_line
    assert "float32[1, 64, 90, 2]  keypoints" in run.out
    assert "float32[1, 10]  logits" in run.out
    assert "pass the attention mask as int32" in run.out


@pytest.mark.slow
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_written_file_matches_pytorch(run, kind):
    tflite = TFLiteModel(run.path)
    assert tflite.seq_len == 64
    mask = np.stack([mask_patterns(64)[kind]] * 2)
    keypoints = np.random.default_rng(11).random((2, 64, 90, 2), dtype=np.float32)

    comparison = logits_parity(run.model, tflite, tolerance_for(run.quantization), keypoints, mask)

    assert comparison, comparison.message(f"{run.name}, {kind}")


# Bad input: each case returns the extra argv; the model and config default to the embedded ones.


def _malicious(tmp_path: Path) -> list[str]:
    torch.save({"model": TouchOnUnpickle(tmp_path / "pwned")}, tmp_path / "evil.pth")
    return ["--checkpoint", str(tmp_path / "evil.pth")]


BAD_INPUTS = {
    "missing config": (lambda d: ["--config", str(d / "absent.yaml")], "config file not found"),
    "missing checkpoint": (
        lambda d: ["--checkpoint", str(d / "absent.pth")],
        "checkpoint file not found",
    ),
    "truncated checkpoint": (
        lambda d: ["--checkpoint", str(truncated_copy(CHECKPOINT, d / "half.pth"))],
        "truncated or corrupt",
    ),
    "config passed as checkpoint": (
        lambda d: ["--checkpoint", str(CONFIG)],
        "not a readable PyTorch checkpoint",
    ),
    "malicious checkpoint": (_malicious, "refused to load"),
    "YAML does not parse": (
        lambda d: ["--config", str(write_text(d, "c.yaml", "d_model: [144\n"))],
        "not valid YAML",
    ),
    "YAML not a mapping": (
        lambda d: ["--config", str(write_text(d, "c.yaml", "- 144\n"))],
        "must be a YAML mapping",
    ),
    "missing config key": (
        lambda d: ["--config", str(write_config(d, drop=["num_labels"]))],
        "'num_labels' is missing",
    ),
    "heads do not divide d_model": (
        lambda d: ["--config", str(write_config(d, d_model=100))],
        "not divisible by encoder_attention_heads",
    ),
    "checkpoint does not fit config": (
        lambda d: ["--config", str(write_config(d, d_model=96)), "--checkpoint", str(CHECKPOINT)],
        "'projection.proj_x1.weight' has shape (144, 90) in the checkpoint but (96, 90)",
    ),
    "seq-len 0": (lambda d: ["--seq-len", "0"], "seq_len 0 is outside 1..256"),
    "seq-len 257": (lambda d: ["--seq-len", "257"], "seq_len 257 is outside 1..256"),
    "export cache is a file": (
        lambda d: ["--cache", str(write_text(d, "cache", "not a folder"))],
        "is a file, not a folder; give --cache a folder",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_error_line(case, tmp_path, capsys):
    make_argv, expected = BAD_INPUTS[case]
    output = tmp_path / "out.tflite"

    code = main(["convert", "--output", str(output), *make_argv(tmp_path)])

    out, err = capsys.readouterr()
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
    assert code == 2
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert all(line.startswith("... ") for line in lines[:-1]), "only progress lines precede it"
    assert expected in errors[0]
    assert "Traceback" not in err + out
    assert "wrote" not in out
    assert not output.exists()
    assert not list(tmp_path.glob(".out.tflite*"))
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- the export cache


def _convert(output: Path, cache: Path, *model_args) -> str:
    from tests.cli import run_in_process

    done = run_in_process(
        "convert", *(model_args or MODEL_ARGS), "--seq-len", "8", "--output", output,
        "--cache", cache,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (wrote,) = [line for line in done.stdout.splitlines() if line.startswith("wrote ")]
    return wrote


@pytest.mark.slow
def test_convert_serves_the_export_cache_with_the_bytes_a_fresh_conversion_writes(tmp_path):
    """The same inputs twice: the second file comes from the cache (and says so), byte for
    byte the first and the file a conversion without the cache writes. A changed checkpoint
    is converted, into the cache, and served from it the next time."""
    from signbart_parity.export.convert import convert

    fresh = convert(fixture_model()[0], seq_len=8, output=tmp_path / "fresh.tflite").path
    _convert(tmp_path / "first.tflite", cache_root())  # the tests' cache: it may hold it already
    second = _convert(tmp_path / "second.tflite", cache_root())
    assert f"from the export cache, not converted again: {cache_root()}" in second, second
    data = (tmp_path / "second.tflite").read_bytes()
    assert data == (tmp_path / "first.tflite").read_bytes() == fresh.read_bytes()

    state = dict(torch.load(CHECKPOINT, weights_only=True))
    state["classification_head.out_proj.bias"] = state["classification_head.out_proj.bias"] + 0.5
    changed = tmp_path / "changed.pth"
    torch.save(state, changed)
    model, cache = ("--config", CONFIG, "--checkpoint", changed), tmp_path / "cache"
    again = _convert(tmp_path / "changed.tflite", cache, *model)
    assert "converted in" in again, again
    assert (tmp_path / "changed.tflite").read_bytes() != data
    served = _convert(tmp_path / "changed-again.tflite", cache, *model)
    assert f"from the export cache, not converted again: {cache}" in served, served
    assert (tmp_path / "changed-again.tflite").read_bytes() == (
        tmp_path / "changed.tflite"
    ).read_bytes()


@pytest.mark.slow
def test_every_door_takes_the_cache_folder_from_the_same_variable(monkeypatch, pytester):
    """$SIGNBART_PARITY_CACHE names the export cache for the gate and for convert, as it does
    for verify, repair and the runtime builds: a file the gate converted is served to
    convert (before, the gate and convert ignored it and looked in the per-user folder)."""
    from signbart_parity.gate.options import resolve_options
    from tests.cli import run_in_process
    from tests.tflite_files import genuine

    genuine(16)  # the fixture checkpoint's file, in the tests' export cache
    monkeypatch.setenv("SIGNBART_PARITY_CACHE", str(cache_root()))
    config = pytester.parseconfig(f"--parity-config={CONFIG}", f"--parity-checkpoint={CHECKPOINT}")
    assert resolve_options(config).cache_dir == cache_root()
    output = pytester.path / "served.tflite"
    done = run_in_process("convert", *MODEL_ARGS, "--seq-len", "16", "--output", output)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"from the export cache, not converted again: {cache_root()}" in done.stdout

"""Provenance: every exported file carries a stamp of what made it, stamping changes no
output bit, ``inspect`` reads any file, and ``verify`` / ``golden check`` call a file made
from other weights STALE (but not the same weights saved in another checkpoint layout)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from signbart_parity.checks.provenance import MATCHES, NOT_STAMPED, judge_provenance
from signbart_parity.model.checkpoint import load_model
from signbart_parity.model.fingerprint import short_fingerprint, weights_fingerprint
from signbart_parity.runtime.read.provenance import METADATA_NAME, read_provenance
from signbart_parity.runtime.run.tflite import TFLiteModel
from tests import tflite_files
from tests.cli import one_error_line, run_cli, run_in_process
from tests.helpers import CHECKPOINT, CONFIG, write_model

BUNDLE = (8, 16)
# Every checkpoint layout a training loop may save (model/checkpoint.py accepts them all).
LAYOUTS = {
    "plain": lambda sd: sd,
    "model": lambda sd: {"model": sd, "optimizer": {}, "epoch": 3},
    "model_state_dict": lambda sd: {"model_state_dict": sd, "epoch": 9, "loss": 0.3},
    "state_dict": lambda sd: {"state_dict": sd, "hyper_parameters": {}},
    "module. prefix": lambda sd: {f"module.{key}": value for key, value in sd.items()},
    "model_state_dict, module. prefix": lambda sd: {
        "model_state_dict": {f"module.{key}": value for key, value in sd.items()}
    },
}


def fixed_inputs(seq_len: int, keypoints: int) -> tuple[np.ndarray, np.ndarray]:
    from signbart_parity.inputs.generators import example_batch

    kp, masks, _ = example_batch(
        np.random.default_rng(7),
        count=24,
        seq_len=seq_len,
        num_keypoints=keypoints,
        keypoint_kinds=("uniform", "real-like", "large"),
    )
    return kp, masks


@pytest.fixture(scope="module")
def unstamped(tmp_path_factory):
    """Files made without the stamp, by the same toolchain: litert-torch directly (as
    export_fp32 calls it) and ai-edge-quantizer on that file. Fixture checkpoint at
    seq_len 16, and the 100-keypoint model as a bundle."""
    from signbart_parity.export.fp32 import export_fp32
    from signbart_parity.export.quantize import quantize_file

    folder = tmp_path_factory.mktemp("unstamped")
    files = {}
    for name, model, lengths in (
        ("fixture", tflite_files.fixture_model()[0], 16),
        ("hundred", tflite_files.hundred_keypoint_model()[0], BUNDLE),
    ):
        fp32 = folder / f"{name}-none.tflite"
        export_fp32(model, seq_len=lengths, output=fp32)
        files[name, "none"] = fp32
        quantized = folder / f"{name}-dynamic-int8.tflite"
        quantize_file(fp32, output=quantized, quantization="dynamic-int8")
        files[name, "dynamic-int8"] = quantized
    return files


def stamped(name: str, quantization: str) -> Path:
    if name == "fixture":
        return tflite_files.genuine(16, quantization)
    return tflite_files.hundred_keypoint(BUNDLE, quantization)


# ---------------------------------------------------------------- the stamp


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fixture", "hundred"])
@pytest.mark.parametrize("quantization", ["none", "dynamic-int8"])
def test_stamping_changes_no_output_bit(unstamped, name, quantization):
    """The same export with and without the stamp: every signature, the same contract
    and bit-identical logits in the real runtime."""
    plain, stamp = unstamped[name, quantization], stamped(name, quantization)
    assert read_provenance(plain) is None and read_provenance(stamp) is not None
    names = TFLiteModel.names_in(stamp)
    assert names == TFLiteModel.names_in(plain)
    for signature in names:
        before = TFLiteModel(plain, signature=signature)
        after = TFLiteModel(stamp, signature=signature)
        assert before.signature == after.signature
        keypoints, masks = fixed_inputs(after.seq_len, after.signature.num_keypoints)
        expected, got = before(keypoints, masks), after(keypoints, masks)
        assert np.array_equal(expected.view(np.uint32), got.view(np.uint32)), (
            signature,
            float(np.abs(expected - got).max()),
        )


@pytest.mark.slow
@pytest.mark.parametrize("quantization", ["none", "fp16", "dynamic-int8", "static-int8"])
def test_the_stamp_records_weights_config_precision_signatures_and_versions(quantization):
    """On the 100-keypoint bundle, every precision: the stamp is the quantized file's own
    (the quantizer copies its source's metadata; the stamp is replaced, not duplicated)."""
    from signbart_parity.runtime.read.provenance import metadata_entries
    from signbart_parity.versions import installed_version, toolchain_versions

    model = tflite_files.hundred_keypoint_model()[0]
    path = stamped("hundred", quantization)
    stamp = read_provenance(path)
    assert stamp.weights == weights_fingerprint(model)
    assert stamp.quantization == quantization
    assert stamp.seq_lens == BUNDLE and stamp.signatures == ("seq_8", "seq_16")
    assert stamp.num_labels == 7 and stamp.config == model.config.to_dict()
    tool = installed_version("signbart-parity")
    assert stamp.versions == {"signbart-parity": tool, **toolchain_versions()}
    assert bool(stamp.calibration) == (quantization == "static-int8")
    entries = list(metadata_entries(path))
    assert entries.count(METADATA_NAME) == 1 and "min_runtime_version" in entries
    document = json.loads(metadata_entries(path)[METADATA_NAME])
    assert document["precision"] == ("fp32" if quantization == "none" else quantization)
    assert document["schema"] == 1


def test_the_weights_fingerprint_ignores_the_checkpoint_layout(tmp_path):
    """The 100-keypoint model saved in every accepted layout loads to one fingerprint, the
    one its exported file is stamped with; one changed weight changes it."""
    config, checkpoint = write_model(tmp_path)
    state = load_model(config, checkpoint).model.state_dict()
    expected = weights_fingerprint(load_model(config, checkpoint).model)
    assert expected == weights_fingerprint(tflite_files.hundred_keypoint_model()[0])
    for layout, wrap in LAYOUTS.items():
        path = tmp_path / f"{layout}.pth"
        torch.save(wrap(dict(state)), path)
        assert weights_fingerprint(load_model(config, path).model) == expected, layout
    changed = dict(state)
    key = "classification_head.out_proj.bias"
    changed[key] = changed[key] + 1e-6
    torch.save(changed, tmp_path / "changed.pth")
    assert weights_fingerprint(load_model(config, tmp_path / "changed.pth").model) != expected


@pytest.mark.slow
def test_a_broken_conversion_of_the_right_weights_is_not_stale():
    """A fault in the exported code (not the weights) keeps the fingerprint: parity, not
    staleness, must catch it. Noise in a weight changes it."""
    from signbart_parity.checks.faults import broken_model

    model = tflite_files.fixture_model()[0]
    expected = weights_fingerprint(model)
    for fault in ("last-frame-pooling", "layernorm-eps", "gelu-tanh"):
        assert weights_fingerprint(broken_model(model, fault)) == expected, fault
        assert read_provenance(tflite_files.broken(fault)).weights == expected, fault
    assert weights_fingerprint(broken_model(model, "weight-noise")) != expected


# ---------------------------------------------------------------- inspect


@pytest.mark.slow
def test_inspect_a_stamped_file():
    from signbart_parity.runtime.read.provenance import metadata_entries

    path = tflite_files.genuine(16, "dynamic-int8")
    done = run_in_process("inspect", "--tflite", path)
    assert done.returncode == 0, done.stdout + done.stderr
    weights = weights_fingerprint(tflite_files.fixture_model()[0])
    text = done.stdout
    assert f"identity: weights {short_fingerprint(weights)}, dynamic-int8, seq_len 16" in text
    assert f"  weights {weights}" in text
    assert "precision: dynamic-int8 (read from the file: int8 weights into" in text
    assert "signature serving_default: inputs (serving_default_args_0 float32[1, 16, 90, 2]" in text
    claimed = metadata_entries(path)["min_runtime_version"].rstrip(b"\0").decode()
    assert f"min_runtime_version: {claimed}" in text and re.fullmatch(r"\d+\.\d+\.\d+", claimed)
    assert re.search(r"^operators: .*FULLY_CONNECTED v\d+ \(x\d+\)", text, re.M), text
    assert f"{path.stat().st_size} bytes" in text

    data = json.loads(run_in_process("inspect", "--tflite", path, "--json").stdout)
    assert data["provenance"]["weights"] == weights
    assert data["precision"]["quantization"] == "dynamic-int8"
    assert data["size_bytes"] == path.stat().st_size
    assert {op["name"] for op in data["operators"]} >= {"FULLY_CONNECTED", "BATCH_MATMUL"}
    assert all(op["version"] >= 1 and op["uses"] >= 1 for op in data["operators"])


@pytest.mark.slow
def test_inspect_into_a_pipe_closed_early_exits_0_without_a_traceback():
    """`inspect --json | head -1`, and a reader that closed the pipe before the first write
    (so the write certainly fails): exit 0, nothing on stderr but the toolchain's noise."""
    import subprocess
    import sys

    path = tflite_files.genuine(16, "none")
    command = [sys.executable, "-m", "signbart_parity.cli", "inspect", "--json", "--tflite", path]
    quoted = " ".join(f"'{part}'" for part in map(str, command))
    piped = subprocess.run(
        ["bash", "-c", f'{quoted} | head -1; echo "exit ${{PIPESTATUS[0]}}"'],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert piped.stdout.splitlines() == ["{", "exit 0"], piped.stdout + piped.stderr
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # gone long before the command has imported anything
    stderr = process.communicate(timeout=300)[1].decode()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


@pytest.mark.slow
def test_inspect_a_bundle_of_another_model():
    path = tflite_files.hundred_keypoint(BUNDLE, "none")
    data = json.loads(run_in_process("inspect", "--tflite", path, "--json").stdout)
    assert [s["name"] for s in data["signatures"]] == ["seq_8", "seq_16"]
    shapes = [s["inputs"][0]["shape"] for s in data["signatures"]]
    assert shapes == [[1, 8, 100, 2], [1, 16, 100, 2]]
    assert [s["inputs"][1]["dtype"] for s in data["signatures"]] == ["int32", "int32"]
    assert data["provenance"]["signatures"] == ["seq_8", "seq_16"]
    assert data["provenance"]["num_labels"] == 7
    assert data["precision"]["label"] == "fp32" and data["min_runtime_version"]


@pytest.mark.slow
def test_inspect_a_file_made_by_litert_torch_directly(unstamped):
    path = unstamped["fixture", "none"]
    done = run_in_process("inspect", "--tflite", path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "identity: no provenance recorded" in done.stdout
    assert "signature serving_default: inputs (" in done.stdout
    data = json.loads(run_in_process("inspect", "--tflite", path, "--json").stdout)
    assert data["provenance"] is None and METADATA_NAME not in data["metadata"]


def test_inspect_bad_input_is_one_line_and_exit_2(tmp_path):
    line = one_error_line(run_cli("inspect", "--tflite", tmp_path / "absent.tflite"))
    assert "absent.tflite: .tflite file not found" in line
    (tmp_path / "notes.tflite").write_text("not a model")
    line = one_error_line(run_cli("inspect", "--tflite", tmp_path / "notes.tflite"))
    assert "not a TFLite model" in line


@pytest.mark.slow
def test_a_damaged_stamp_is_bad_input_naming_the_fix(tmp_path):
    from signbart_parity.export.flatbuffer import set_metadata

    path = tmp_path / "damaged.tflite"
    shutil.copy(tflite_files.genuine(), path)
    set_metadata(path, METADATA_NAME, b"{not json")
    line = one_error_line(run_cli("inspect", "--tflite", path))
    assert f"its {METADATA_NAME} metadata is damaged" in line and "re-export" in line


# ---------------------------------------------------------------- STALE


@pytest.mark.slow
def test_the_same_weights_in_every_layout_are_not_stale(tmp_path):
    config, checkpoint = write_model(tmp_path)
    path = tflite_files.hundred_keypoint(16, "dynamic-int8")
    state = load_model(config, checkpoint).model.state_dict()
    for layout, wrap in LAYOUTS.items():
        saved = tmp_path / f"{layout}.pth"
        torch.save(wrap(dict(state)), saved)
        found = judge_provenance(
            path,
            weights_fingerprint(load_model(config, saved).model),
            against=str(saved),
            config=config,
            checkpoint=saved,
        )
        assert found.status == MATCHES and not found.stale, (layout, found.line)


def stale_setup(tmp_path) -> tuple[Path, Path, Path, Path]:
    """The 100-keypoint model's file, its own checkpoint (DDP-prefixed under
    model_state_dict) and a checkpoint of the same config with other weights."""
    config, checkpoint = write_model(_mkdir(tmp_path / "old"))
    state = load_model(config, checkpoint).model.state_dict()
    same = tmp_path / "same-weights-ddp.pth"
    torch.save(LAYOUTS["model_state_dict, module. prefix"](dict(state)), same)
    _, newer = write_model(_mkdir(tmp_path / "new"), seed=1)
    return tflite_files.hundred_keypoint(16, "none"), config, same, newer


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.slow
def test_verify_reports_a_stale_file_up_front_and_fails(tmp_path):
    path, config, _, newer = stale_setup(tmp_path)
    done = run_cli(
        "verify", "--config", config, "--checkpoint", newer, "--tflite", path,
        "--examples", "6", "--report", tmp_path / "report",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    first, second = done.stdout.splitlines()[:2]
    old = short_fingerprint(read_provenance(path).weights)
    new = short_fingerprint(weights_fingerprint(load_model(config, newer).model))
    assert first.startswith(f"STALE: {path} was exported from weights {old} "), first
    assert f"but the checkpoint under test {newer} has weights {new}" in first
    assert second == (
        f"  re-export it: signbart-parity convert --config {config} --checkpoint {newer} "
        f"--seq-len 16 --quantization fp32 --output {path}"
    )
    report = json.loads((tmp_path / "report" / "parity.json").read_text())
    assert report["passed"] is False
    (stale,) = [o for o in report["outcomes"] if o["check"] == "provenance"]
    assert stale["outcome"] == "failed" and stale["message"].startswith("STALE: ")
    assert report["provenance"]["file"]["status"] == "stale"
    assert report["provenance"]["file"]["expected_weights"].startswith(new)
    assert "FAILED provenance" in (tmp_path / "report" / "parity.md").read_text()
    assert "file provenance: STALE: " in (tmp_path / "report" / "parity.html").read_text()


@pytest.mark.slow
def test_verify_of_the_same_weights_in_another_layout_is_not_stale(tmp_path):
    path, config, same, _ = stale_setup(tmp_path)
    done = run_in_process(
        "verify", "--config", config, "--checkpoint", same, "--tflite", path, "--examples", "6"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "STALE" not in done.stdout
    assert done.stdout.startswith(f"provenance: {path} was exported from weights ")
    assert f": the weights of the checkpoint under test {same}" in done.stdout


@pytest.mark.slow
def test_verify_of_a_file_without_a_stamp_says_provenance_unknown(unstamped, tmp_path):
    done = run_in_process(
        "verify", "--config", CONFIG, "--checkpoint", CHECKPOINT,
        "--tflite", unstamped["fixture", "none"], "--examples", "6", "--report", tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("provenance unknown (no stamp): ")
    report = json.loads((tmp_path / "parity.json").read_text())
    (unknown,) = [o for o in report["outcomes"] if o["check"] == "provenance"]
    assert unknown["outcome"] == "skipped" and report["passed"] is True
    found = judge_provenance(
        unstamped["fixture", "none"], "0" * 64, against="x", config="c", checkpoint="p"
    )
    assert found.status == NOT_STAMPED


@pytest.mark.slow
def test_golden_check_reports_a_file_stale_against_the_golden(tmp_path):
    path, config, same, newer = stale_setup(tmp_path)
    golden_old, golden_new = tmp_path / "old.npz", tmp_path / "new.npz"
    for checkpoint, golden in ((same, golden_old), (newer, golden_new)):
        done = run_cli(
            "golden", "create", "--config", config, "--checkpoint", checkpoint,
            "--seq-len", "16", "--output", golden,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    fresh = run_in_process("golden", "check", "--tflite", path, "--golden", golden_old)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert fresh.stdout.startswith(f"provenance: {path} was exported from weights ")

    stale = run_in_process("golden", "check", "--tflite", path, "--golden", golden_new)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    first, second = stale.stdout.splitlines()[:2]
    new = short_fingerprint(weights_fingerprint(load_model(config, newer).model))
    assert first.startswith(f"STALE: {path} was exported from weights "), first
    assert f"but {golden_new} (made from {newer}) has weights {new}" in first
    assert second.endswith(
        f"--config {config} --checkpoint {newer} --seq-len 16 --quantization fp32 --output {path}"
    )
    assert stale.stdout.splitlines()[-1].startswith(f"STALE: re-export {path}")


@pytest.mark.slow
def test_the_gate_shows_the_baseline_provenance_and_does_not_judge_it(pytester, tmp_path):
    """--parity-baseline made from other weights (the 100-keypoint model, seed 0) while the
    gate checks a newer checkpoint (seed 1): its stamp is in the header and the report,
    and the run passes (flips allowed here: the weights really differ)."""
    import json

    from signbart_parity.versions import installed_version

    _, newer = write_model(_mkdir(tmp_path / "new"), seed=1)
    config = tmp_path / "new" / "signbart-100.yaml"
    shipped = tflite_files.hundred_keypoint(16, "none")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--pyargs", "signbart_parity.gate",
        f"--parity-config={config}", f"--parity-checkpoint={newer}",
        "--parity-seq-lens=16", "--parity-quantization=none", f"--parity-baseline={shipped}",
        "--parity-max-flip-rate=1.0", f"--parity-cache={tflite_files.scratch() / 'exports'}",
        "--parity-report=report", "--parity-profile=ci",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    old = short_fingerprint(read_provenance(shipped).weights)
    new = short_fingerprint(weights_fingerprint(load_model(config, newer).model))
    tool = installed_version("signbart-parity")
    expected = (
        f"signbart-parity: --parity-baseline shipped file {shipped} was exported from weights "
        f"{old} (fp32, seq_len 16, 7 labels, made by signbart-parity {tool}): other weights "
        f"than the checkpoint under test ({new}); expected of a baseline, not judged"
    )
    assert expected in result.stdout.lines, result.stdout.str()
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    assert report["passed"] is True
    assert report["provenance"]["baseline"]["stamp"]["weights"] == read_provenance(shipped).weights
    baseline = [o for o in report["outcomes"] if o["check"] == "baseline"]
    assert baseline and all(o["outcome"] == "passed" for o in baseline)
    markdown = (pytester.path / "report" / "parity.md").read_text()
    assert f"baseline provenance: shipped file {shipped} was exported from" in markdown

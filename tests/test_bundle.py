"""One file, every bucket: bundles convert in every mode within the size bounds, and
verify, golden, --baseline, the gate and bench check every signature of them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from signbart_parity.checks.properties import logits_parity
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.export.bundle import bucket_for
from signbart_parity.inputs.masks import MASK_KINDS, mask_patterns
from signbart_parity.runtime.read.signature import signature_name
from signbart_parity.runtime.run.tflite import TFLiteModel
from tests.cli import one_error_line, run_cli, run_in_process
from tests.helpers import assert_gate_ran, write_model
from tests.tflite_files import _cache, cache_root

pytestmark = pytest.mark.slow
BUCKETS = (16, 32, 64, 128)
SIZE_BOUND = 1.35  # bundle / single seq_len-64 file, same precision (fp32, dynamic-int8)


def fixed_inputs(seq_len: int, keypoints: int) -> tuple[np.ndarray, np.ndarray]:
    masks = np.stack([mask_patterns(seq_len)[kind] for kind in MASK_KINDS])
    values = np.random.default_rng(seq_len).random((len(masks), seq_len, keypoints, 2))
    return values.astype(np.float32), masks


def test_app_bucket_choice_is_the_smallest_that_holds_the_clip():
    assert [bucket_for(frames, BUCKETS) for frames in (1, 16, 17, 64, 65, 128)] == [
        16,
        16,
        32,
        64,
        128,
        128,
    ]
    assert bucket_for(400, BUCKETS) == 128  # longer clips are resampled down to it


# ---------------------------------------------------------------- conversion, every mode


@pytest.fixture(scope="module")
def default_files():
    """The embedded default as a 4-bucket bundle and a single seq_len-64 file, every mode,
    in the tests' shared export cache (test_cli_convert's seq_len-64 files are these)."""
    from signbart_parity.export.exporter import Exporter
    from signbart_parity.inputs.calibration import calibration_sets
    from signbart_parity.model.default import load_model_or_default

    model, config = load_model_or_default(None, None)
    modes = ("none", "fp16", "dynamic-int8", "weight-only-int8", "static-int8")
    files = {}
    for name, lengths in (("bundle", BUCKETS), ("single", (64,))):
        exporter = Exporter(
            model, cache=_cache(), calibrate=lambda each: calibration_sets(config, each)
        )
        files[name] = exporter.export_all(lengths, modes)
    return model, files


@pytest.mark.parametrize(
    "precision", ["fp32", "fp16", "dynamic-int8", "weight-only-int8", "static-int8"]
)
def test_a_four_bucket_bundle_converts_and_matches_pytorch_in_every_mode(default_files, precision):
    model, files = default_files
    bundle = files["bundle"][precision]
    assert TFLiteModel.names_in(bundle.path) == [signature_name(t) for t in BUCKETS]
    tolerance = tolerance_for(bundle.quantization)
    for seq_len in BUCKETS:
        tflite = TFLiteModel(bundle.path, signature=signature_name(seq_len))
        assert [spec.key for spec in tflite.signature.inputs] == ["args_0", "args_1"]
        assert tflite.signature.outputs[0].key == "output_0"
        keypoints, masks = fixed_inputs(seq_len, 90)
        if tolerance.keypoint_range is not None:  # static-int8: judged on in-range keypoints
            keypoints = np.clip(keypoints, *tolerance.keypoint_range)
        result = logits_parity(model, tflite, tolerance, keypoints, masks)
        assert result, result.message(f"{precision} seq_{seq_len}")


@pytest.mark.parametrize("precision", ["fp32", "dynamic-int8"])
def test_bundle_size_is_within_the_bound_of_the_single_file(default_files, precision):
    _, files = default_files
    bundle, single = files["bundle"][precision], files["single"][precision]
    ratio = bundle.size_bytes / single.size_bytes
    assert ratio <= SIZE_BOUND, (precision, bundle.size_bytes, single.size_bytes, ratio)


def test_compacting_a_bundle_changes_no_output(tmp_path, default_files):
    """compact() shares identical vectors and shortens names: outputs stay bit-identical."""
    import litert_torch

    from signbart_parity.export.flatbuffer import compact
    from signbart_parity.export.fp32 import _export_module, sample_inputs

    model, _ = default_files
    builder = litert_torch
    for seq_len in (16, 32):
        builder = builder.signature(
            signature_name(seq_len), _export_module(model), sample_inputs(model.config, seq_len)
        )
    raw = tmp_path / "raw.tflite"
    raw.write_bytes(builder.convert().model_content())
    compacted = tmp_path / "compacted.tflite"
    compacted.write_bytes(raw.read_bytes())
    compact(compacted)
    assert compacted.stat().st_size < raw.stat().st_size
    for seq_len in (16, 32):
        keypoints, masks = fixed_inputs(seq_len, 90)
        before = TFLiteModel(raw, signature=signature_name(seq_len))(keypoints, masks)
        after = TFLiteModel(compacted, signature=signature_name(seq_len))(keypoints, masks)
        np.testing.assert_array_equal(before, after)


# ---------------------------------------------------------------- checks on a bundle


def mixed_bundle(model, broken, seq_lens, broken_seq_len: int, output: Path) -> Path:
    """A bundle whose seq_<broken_seq_len> signature was converted from ``broken``."""
    import litert_torch

    from signbart_parity.export.fp32 import _export_module, sample_inputs

    builder = litert_torch
    for seq_len in seq_lens:
        source = broken if seq_len == broken_seq_len else model
        builder = builder.signature(
            signature_name(seq_len), _export_module(source), sample_inputs(model.config, seq_len)
        )
    output.write_bytes(builder.convert().model_content())
    return output


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """A 100-keypoint, d_model 96, 6-head, 7-label model; its bundle; a bundle with one
    broken signature (seq_32 from a model with an inverted mask)."""
    from signbart_parity.checks.faults import broken_model
    from signbart_parity.model.checkpoint import load_signbart_model

    folder = tmp_path_factory.mktemp("bundle-100")
    config, checkpoint = write_model(folder, keypoints=100)
    args = ["--config", str(config), "--checkpoint", str(checkpoint)]
    bundle = folder / "bundle.tflite"
    done = run_cli(
        "convert", *args, "--output", str(bundle), "--seq-len", "16,32,64", "--cache", cache_root()
    )
    assert done.returncode == 0, done.stdout + done.stderr
    model, _ = load_signbart_model(config, checkpoint)
    broken = mixed_bundle(
        model, broken_model(model, "inverted-mask"), (16, 32, 64), 32, folder / "broken.tflite"
    )
    return {"args": args, "bundle": bundle, "broken": broken, "folder": folder}


def test_convert_writes_one_file_with_a_signature_per_bucket(other_model):
    assert TFLiteModel.names_in(other_model["bundle"]) == ["seq_16", "seq_32", "seq_64"]
    signature = TFLiteModel(other_model["bundle"], signature="seq_64").signature
    assert signature.keypoints.shape == (1, 64, 100, 2) and signature.num_labels == 7


def test_verify_checks_every_signature_of_a_genuine_bundle(other_model, tmp_path):
    done = run_cli(
        "verify",
        *other_model["args"],
        "--tflite",
        str(other_model["bundle"]),
        "--examples",
        "12",
        "--report",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("seq_16", "seq_32", "seq_64"):
        assert f"signature {name}: inputs" in done.stdout
    # the gate's bucket check, between neighbouring signatures: seq_16 in seq_32, seq_32 in seq_64
    assert done.stdout.count("  bucket ") == 2
    report = json.loads((tmp_path / "parity.json").read_text())
    assert [row["seq_len"] for row in report["results"]] == [16, 32, 64]
    # Rows name their signature, as the gate's do.
    assert [row["signature"] for row in report["results"]] == ["seq_16", "seq_32", "seq_64"]
    assert report["passed"] is True and set(report["contract"]) == {"seq_16", "seq_32", "seq_64"}


def test_verify_fails_a_bundle_with_one_broken_signature_and_names_it(other_model, tmp_path):
    done = run_cli(
        "verify",
        *other_model["args"],
        "--tflite",
        str(other_model["broken"]),
        "--examples",
        "12",
        "--report",
        str(tmp_path),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PARITY VIOLATED in signature seq_32: failing properties: parity" in done.stdout
    assert "in signature seq_16:" not in done.stdout  # the genuine buckets pass parity
    report = json.loads((tmp_path / "parity.json").read_text())
    failed = {o["nodeid"].split("::")[1] for o in report["outcomes"] if o["outcome"] == "failed"}
    assert "seq_32" in failed and "seq_16" not in failed
    row = next(r for r in report["results"] if r["seq_len"] == 32)
    assert row["passed"] is False and row["divergence"].startswith("first divergence: ")


def test_golden_round_trips_a_bundle(other_model, tmp_path):
    golden = tmp_path / "golden.npz"
    done = run_cli(
        "golden", "create", *other_model["args"], "--seq-len", "16,32,64", "--output", str(golden)
    )
    assert done.returncode == 0, done.stderr
    good = run_cli(
        "golden", "check", "--tflite", str(other_model["bundle"]), "--golden", str(golden)
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.count("parity holds") == 3
    bad = run_cli(
        "golden", "check", "--tflite", str(other_model["broken"]), "--golden", str(golden)
    )
    assert bad.returncode == 1
    assert "signature seq_32" in bad.stdout and bad.stdout.count("PARITY VIOLATED") == 1
    other = tmp_path / "other.npz"
    assert (
        run_cli(
            "golden", "create", *other_model["args"], "--seq-len", "16,64", "--output", str(other)
        ).returncode
        == 0
    )
    line = one_error_line(
        run_cli("golden", "check", "--tflite", str(other_model["bundle"]), "--golden", str(other))
    )
    assert "signatures for seq_len 16,32,64 but" in line and "buckets 16,64" in line


def test_a_baseline_with_other_signatures_is_a_contract_change(other_model, tmp_path):
    single = tmp_path / "single.tflite"
    assert (
        run_cli(
            "convert",
            *other_model["args"],
            "--output",
            str(single),
            "--seq-len",
            "64",
            "--cache",
            str(cache_root()),  # the 100-keypoint model's seq_len-64 file, shared
        ).returncode
        == 0
    )
    done = run_cli(
        "verify",
        *other_model["args"],
        "--tflite",
        str(other_model["bundle"]),
        "--examples",
        "12",
        "--baseline",
        str(single),
    )
    assert done.returncode == 1, done.stdout
    assert "CONTRACT CHANGED: signatures serving_default -> seq_16, seq_32, seq_64" in done.stdout
    same = run_cli(
        "verify",
        *other_model["args"],
        "--tflite",
        str(other_model["bundle"]),
        "--examples",
        "12",
        "--baseline",
        str(other_model["bundle"]),
    )
    assert same.returncode == 0, same.stdout
    assert "0/72 predictions flip" in same.stdout  # 24 golden inputs x 3 signatures


def test_the_gate_checks_the_bundle_as_it_ships(pytester, other_model):
    """--parity-bundle: one export holding every --parity-seq-lens, cached like single files."""
    config, checkpoint = other_model["args"][1], other_model["args"][3]
    cache = other_model["folder"] / "gate-cache"
    options = [
        "-p",
        "no:cacheprovider",
        "--pyargs",
        "signbart_parity.gate",
        f"--checkpoint={checkpoint}",
        f"--config={config}",
        "--parity-seq-lens=16,32",
        "--parity-quantization=none",
        "--parity-bundle",
        f"--parity-cache={cache}",
        "--parity-report=report",
        "--parity-profile=ci",
    ]
    for conversions in (1, 0):
        result = pytester.runpytest_subprocess(*options)
        # 2 buckets and 1 pair; real samples (90 keypoints) and baseline skip.
        report = json.loads((pytester.path / "report" / "parity.json").read_text())
        assert_gate_ran(result, report, targets=2, skipped=4)
        assert report["conversions"] == conversions and report["passed"] is True
        assert [r["signature"] for r in report["results"]] == ["seq_16", "seq_32"]
        assert len({r["file"] for r in report["results"]}) == 1  # one file, both buckets
    shipped = pytester.runpytest_subprocess(*options, f"--parity-baseline={other_model['bundle']}")
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    assert_gate_ran(shipped, report, targets=2, failed=1, skipped=3)
    shipped.stdout.fnmatch_lines(
        ["*CONTRACT CHANGED: signatures seq_16, seq_32, seq_64 -> seq_16, seq_32*"]
    )


def test_bench_times_each_signature_of_the_bundle(capsys):
    done = run_in_process(
        "bench",
        "--seq-len",
        "16,32",
        "--quantization",
        "none",
        "--threads",
        "2",
        "--iterations",
        "3",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["seq_lens"] == [16, 32] and summary["seq_len"] == 32
    assert set(summary["bucket_ms"]) == {"16", "32"}
    assert all(ms > 0 for ms in summary["bucket_ms"].values())
    assert "each signature of the fp32 bundle" in done.stdout

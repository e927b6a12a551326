"""Files as others make them and the runtimes apps use: an int64-mask file at the origin's
shape (seq_len 114, 100 keypoints, converted here with litert-torch's enable_x64=True), and
ai_edge_litert's CompiledModel ("compiled") everywhere a runtime can be chosen."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from signbart_parity.runtime.run.tflite import TFLiteModel
from tests.cli import one_error_line, run_cli, run_in_process
from tests.helpers import write_model
from tests.tflite_files import FAULT_STAGES, MODEL_ARGS, broken, genuine

pytestmark = pytest.mark.slow
ORIGIN_SEQ_LEN = 114


def convert_with_int64_mask(model, output: Path) -> Path:
    """What the seed's origin did: litert-torch with 64-bit I/O kept (enable_x64=True)."""
    import litert_torch
    import torch

    from signbart_parity.export.fp32 import _export_module

    keypoints = torch.rand(1, ORIGIN_SEQ_LEN, model.config.min_input_keypoints, 2)
    mask = torch.ones(1, ORIGIN_SEQ_LEN, dtype=torch.int64)
    converted = litert_torch.convert(_export_module(model), (keypoints, mask), enable_x64=True)
    output.write_bytes(converted.model_content())
    return output


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> dict[str, Path]:
    """A 100-keypoint checkpoint and its int64-mask files: genuine, and one broken."""
    from signbart_parity.checks.faults import broken_model
    from signbart_parity.model.checkpoint import load_signbart_model

    folder = tmp_path_factory.mktemp("origin")
    config, checkpoint = write_model(folder, keypoints=100)
    model, _ = load_signbart_model(config, checkpoint)
    return {
        "config": config,
        "checkpoint": checkpoint,
        "genuine": convert_with_int64_mask(model, folder / "genuine.tflite"),
        "broken": convert_with_int64_mask(
            broken_model(model, "inverted-mask"), folder / "broken.tflite"
        ),
    }


def test_the_origin_file_really_takes_an_int64_mask(origin):
    signature = TFLiteModel(origin["genuine"]).signature
    assert signature.attention_mask.dtype == "int64"
    assert signature.keypoints.shape == (1, ORIGIN_SEQ_LEN, 100, 2)


def test_verify_passes_a_genuine_int64_mask_file_and_warns(origin, tmp_path):
    args = (
        "verify",
        "--config",
        str(origin["config"]),
        "--checkpoint",
        str(origin["checkpoint"]),
        "--examples",
        "12",
    )
    done = run_cli(*args, "--tflite", str(origin["genuine"]), "--report", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "serving_default_args_1 int64[1, 114]" in done.stdout
    assert re.search(r"warning: the attention mask is int64: .*Kotlin", done.stdout)
    assert "parity holds" in done.stdout
    contract = json.loads((tmp_path / "parity.json").read_text())["contract"]["serving_default"]
    assert contract["inputs"][1]["dtype"] == "int64" and "Kotlin" in contract["warnings"][0]


@pytest.mark.parametrize("runtime", ["litert", "tensorflow"])
def test_verify_fails_a_broken_int64_mask_file(origin, runtime):
    done = run_cli(
        "verify",
        "--config",
        str(origin["config"]),
        "--checkpoint",
        str(origin["checkpoint"]),
        "--examples",
        "12",
        "--tflite",
        str(origin["broken"]),
        "--runtime",
        runtime,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PARITY VIOLATED" in done.stdout


def test_the_compiled_runtime_says_it_cannot_feed_an_int64_mask(origin):
    """LiteRT's TensorBuffer has no int64 writer: one clear line, exit 2, not a crash."""
    done = run_cli(
        "verify",
        "--config",
        str(origin["config"]),
        "--checkpoint",
        str(origin["checkpoint"]),
        "--tflite",
        str(origin["genuine"]),
        "--runtime",
        "compiled",
    )
    line = one_error_line(done)
    assert "the compiled runtime cannot feed this file (args_1 is int64" in line
    assert "--runtime litert" in line


def test_a_shipped_int64_file_against_an_int32_candidate_is_a_contract_change(origin, tmp_path):
    """The app feeds int64: a new file wanting int32 breaks it, and the baseline says so."""
    from signbart_parity.export.convert import convert
    from signbart_parity.model.checkpoint import load_signbart_model

    model, _ = load_signbart_model(origin["config"], origin["checkpoint"])
    candidate = convert(model, seq_len=ORIGIN_SEQ_LEN, output=tmp_path / "new.tflite").path
    done = run_cli(
        "verify",
        "--config",
        str(origin["config"]),
        "--checkpoint",
        str(origin["checkpoint"]),
        "--examples",
        "12",
        "--tflite",
        str(candidate),
        "--baseline",
        str(origin["genuine"]),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CONTRACT CHANGED: input 1:" in done.stdout
    assert "int64[1, 114] -> serving_default_args_1 int32[1, 114]" in done.stdout
    assert "0/" in done.stdout and "predictions flip" in done.stdout  # same predictions


# ---------------------------------------------------------------- the compiled runtime


def test_compiled_runtime_matches_the_interpreter_on_every_mask_kind():
    from signbart_parity.inputs.masks import MASK_KINDS, mask_patterns

    masks = np.stack([mask_patterns(16)[kind] for kind in MASK_KINDS])
    keypoints = np.random.default_rng(0).random((len(masks), 16, 90, 2), dtype=np.float32)
    interpreter = TFLiteModel(genuine(), runtime="litert")(keypoints, masks)
    compiled = TFLiteModel(genuine(), runtime="compiled")
    assert compiled.signature == TFLiteModel(genuine()).signature
    np.testing.assert_allclose(compiled(keypoints, masks), interpreter, rtol=0, atol=1e-5)


def test_verify_with_the_compiled_runtime_passes_a_genuine_file_quietly():
    done = run_cli(
        "verify",
        *MODEL_ARGS,
        "--tflite",
        str(genuine()),
        "--runtime",
        "compiled",
        "--examples",
        "36",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(compiled runtime)" in done.stdout and "parity holds" in done.stdout
    # LiteRT's plugin and accelerator chatter (start-up and teardown) stays off the terminal.
    assert [line for line in done.stderr.splitlines() if not line.startswith("... ")] == []


@pytest.mark.parametrize("fault", sorted(FAULT_STAGES))
def test_verify_with_the_compiled_runtime_fails_every_fault(fault, capsys):
    done = run_in_process(
        "verify",
        *MODEL_ARGS,
        "--tflite",
        str(broken(fault)),
        "--runtime",
        "compiled",
        "--examples",
        "36",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PARITY VIOLATED: failing properties: " in done.stdout


def test_golden_check_with_the_compiled_runtime(tmp_path):
    golden = tmp_path / "golden.npz"
    assert (
        run_cli(
            "golden", "create", *MODEL_ARGS, "--seq-len", "16", "--output", str(golden)
        ).returncode
        == 0
    )
    good = run_cli(
        "golden",
        "check",
        "--tflite",
        str(genuine()),
        "--golden",
        str(golden),
        "--runtime",
        "compiled",
    )
    assert good.returncode == 0 and "(compiled runtime)" in good.stdout, good.stdout
    bad = run_cli(
        "golden",
        "check",
        "--tflite",
        str(broken("last-frame-pooling")),
        "--golden",
        str(golden),
        "--runtime",
        "compiled",
    )
    assert bad.returncode == 1, bad.stdout


def test_bench_times_the_compiled_runtime_next_to_the_others(capsys):
    done = run_in_process(
        "bench",
        *MODEL_ARGS,
        "--seq-len",
        "16",
        "--threads",
        "2",
        "--quantization",
        "none",
        "--iterations",
        "3",
        "--runtime",
        "litert,compiled",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(summary["runtime_ms"]) == {"litert", "compiled"}
    assert summary["runtime_ms"]["compiled"]["fp32"] > 0
    assert summary["tflite_ms"] == summary["runtime_ms"]["litert"]
    assert "TFLite fp32 [compiled]" in done.stdout

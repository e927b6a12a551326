"""A file's precision is read from the file: every command handed a .tflite judges it under
the tolerance of what it holds, and ``--quantization`` only checks that."""

from __future__ import annotations

import pytest

from signbart_parity.runtime.read.precision import judged_precision, read_precision
from signbart_parity.targets import QUANTIZATIONS, precision_label
from tests.cli import one_error_line, run_in_process
from tests.tflite_files import MODEL_ARGS, fixture_model, genuine, hundred_keypoint

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_each_mode_is_read_from_files_of_two_models(quantization):
    """The default-layout fixture checkpoint and the 100-keypoint, d_model 96 model."""
    for path in (genuine(quantization=quantization), hundred_keypoint(quantization=quantization)):
        assert read_precision(path).quantization == quantization, path


def test_a_bundle_is_read_across_its_signatures(tmp_path):
    from signbart_parity.export.convert import convert
    from tests.tflite_files import cache_root, fixture_model

    # Its fp32 source is the (8, 16) bundle test_corpus_files gets from the shared cache.
    result = convert(
        fixture_model()[0], seq_len=(8, 16), output=tmp_path / "b.tflite",
        quantization="dynamic-int8", cache=cache_root(),
    )  # fmt: skip
    assert read_precision(result.path).quantization == "dynamic-int8"


def test_the_readmes_ship_check_passes_a_good_int8_file_without_flags():
    """``verify --tflite m.tflite`` on a dynamic-int8 file: judged as dynamic-int8, and says
    how it knows (it used to be judged as fp32 and fail at 581x the bound)."""
    done = run_in_process(
        "verify", *MODEL_ARGS, "--tflite", genuine(quantization="dynamic-int8"), "--examples", "12"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "precision: dynamic-int8 (read from the file: int8 weights into" in done.stdout
    assert "parity holds" in done.stdout


def test_a_mismatching_quantization_is_one_line_naming_both():
    path = genuine(quantization="fp16")
    done = run_in_process("verify", *MODEL_ARGS, "--tflite", path, "--quantization", "none")
    line = one_error_line(done)
    assert "the file is fp16 (35 float16 weights), you said fp32" in line
    assert "drop --quantization" in line


def test_a_matching_quantization_is_confirmed():
    quantization, line = judged_precision(genuine(quantization="static-int8"), "static-int8")
    assert quantization == "static-int8" and "as given, and the file agrees" in line


@pytest.fixture(scope="module")
def golden16(tmp_path_factory):
    path = tmp_path_factory.mktemp("golden") / "golden-16.npz"
    done = run_in_process("golden", "create", *MODEL_ARGS, "--seq-len", "16", "--output", path)
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def judged_by_every_command(path, golden, expected: str, evidence: str) -> None:
    """verify (with the fp32 file as its baseline) and golden check, without
    --quantization: each reads ``expected`` from the file, says so, and passes under it."""
    label = precision_label(expected)
    done = run_in_process(
        "verify", *MODEL_ARGS, "--tflite", path, "--examples", "12",
        "--baseline", genuine(), "--max-flip-rate", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"precision: {label} (read from the file: {evidence}" in done.stdout
    assert f"verify {path} (litert runtime): seq_len 16, {label}," in done.stdout
    assert f"precision: fp32 (shipped) -> {label} (this file), read from the files" in done.stdout
    done = run_in_process("golden", "check", "--tflite", path, "--golden", golden)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"precision: {label} (read from the file: {evidence}" in done.stdout


EVIDENCE = {
    "none": "float32 weights and activations only",
    "fp16": "35 float16 weights",
    "dynamic-int8": "int8 weights into",
    "weight-only-int8": "",
    "static-int8": "",
}


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_verify_golden_check_and_baseline_read_each_precision_from_convert_files(
    quantization, golden16
):
    judged_by_every_command(
        genuine(quantization=quantization), golden16, quantization, EVIDENCE[quantization]
    )


def test_a_file_made_by_litert_torch_and_the_quantizer_directly_is_read(tmp_path, golden16):
    """No signbart-parity in the making: litert-torch's convert, then ai-edge-quantizer's
    recipes, as a mobile team's own script would do it."""
    import litert_torch
    import torch
    from ai_edge_quantizer import quantizer, recipe

    model = fixture_model()[0]

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, keypoints, attention_mask):
            return self.model(keypoints, attention_mask)[1]

    keypoints = torch.rand(1, 16, model.config.min_input_keypoints, 2)
    fp32 = tmp_path / "theirs.tflite"
    litert_torch.convert(Logits().eval(), (keypoints, torch.ones(1, 16, dtype=torch.int64))).export(
        str(fp32)
    )
    for name, made_with in (
        ("dynamic-int8", recipe.dynamic_wi8_afp32),
        ("weight-only-int8", recipe.weight_only_wi8_afp32),
    ):
        theirs = quantizer.Quantizer(str(fp32))
        theirs.load_quantization_recipe(made_with())
        path = tmp_path / f"theirs-{name}.tflite"
        theirs.quantize().export_model(str(path))
        assert read_precision(path).quantization == name
        judged_by_every_command(path, golden16, name, EVIDENCE[name])
    assert read_precision(fp32).quantization == "none"

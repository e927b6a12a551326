"""The GPU lane: files on LiteRT's GPU accelerator (``compiled@gpu``), on the Vulkan device
this machine has (lavapipe, a software GPU, on a CPU-only machine). Real conversions, the
real accelerator, no mocks; every mask kind on small fixed batches."""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import pytest
import torch

from signbart_parity.model.signbart import AttentionMask, SignBart, causal_mask
from tests.cli import one_error_line, run_cli
from tests.tflite_files import (
    MODEL_ARGS,
    SEQ_LEN,
    _export,
    broken,
    fixture_model,
    genuine,
    hundred_keypoint,
    hundred_keypoint_model,
)

pytestmark = [pytest.mark.slow, pytest.mark.needs_vulkan]
GPU, GPU_FP32 = "compiled@gpu", "compiled@gpu:fp32"


def every_mask_kind(num_keypoints: int, seq_len: int = SEQ_LEN):
    """Two examples of each mask kind (the fixed pattern and a drawn one), uniform and
    real-like keypoints: 24 examples at 0.03-0.1 s each on the software GPU."""
    from signbart_parity.inputs.generators import batch_of, seed_guide_inputs
    from signbart_parity.inputs.masks import MASK_KINDS

    fixed_keypoints, fixed_masks = seed_guide_inputs(num_keypoints, seq_len)
    pairs = [(kind, mask) for kind in ("uniform", "real-like") for mask in MASK_KINDS]
    drawn_keypoints, drawn_masks, _ = batch_of(
        pairs, np.random.default_rng(27), seq_len=seq_len, num_keypoints=num_keypoints
    )
    return (
        np.concatenate([fixed_keypoints, drawn_keypoints]),
        np.concatenate([fixed_masks, drawn_masks]),
    )


def parity(model, path, runtime: str, quantization: str = "none"):
    from signbart_parity.checks.properties import logits_parity
    from signbart_parity.checks.tolerances import tolerance_for
    from signbart_parity.runtime.run.tflite import TFLiteModel

    tflite = TFLiteModel(path, runtime=runtime)
    keypoints, masks = every_mask_kind(tflite.signature.num_keypoints)
    return logits_parity(
        model, tflite, tolerance_for(quantization, runtime), keypoints, masks.astype(np.int32)
    )


class OldMaskFill(SignBart):
    """SignBart as the exporter wrote it before the GPU fix: a masked score becomes
    ``score + float32's lowest value`` (-3.4e38, which fp16 cannot hold: -inf, and the
    mask's 0 x -inf on a valid frame is NaN)."""

    def encode(self, x, attention_mask):
        x, mask, outputs = self.encoder.embed(x), old_padding_mask(attention_mask), []
        for layer in self.encoder.layers:
            x = layer(x, mask)
            outputs.append(x)
        return outputs

    def decode(self, y, encoder_out, attention_mask):
        y, cross = self.decoder.embed(y), old_padding_mask(attention_mask)
        self_mask, outputs = causal_mask(cross), []
        for layer in self.decoder.layers:
            y = layer(y, self_mask, encoder_out, cross)
            outputs.append(y)
        return outputs


def old_padding_mask(attention_mask: torch.Tensor) -> AttentionMask:
    valid = attention_mask.to(torch.float32)[:, None, None, :]
    return AttentionMask(torch.ones_like(valid), (1.0 - valid) * torch.finfo(torch.float32).min)


@functools.cache
def old_mask_file():
    model = fixture_model()[0]
    old = OldMaskFill(model.config)
    old.load_state_dict(model.state_dict())
    return old.eval(), _export(old.eval(), SEQ_LEN, "none")


# ---------------------------------------------------------------- files on the GPU


def test_the_exporters_file_passes_on_the_gpu_with_every_mask_kind():
    result = parity(fixture_model()[0], genuine(), GPU)
    assert result, result.message("the fixture model's fp32 file on compiled@gpu")
    assert result.max_abs_err > 1e-4, "fp16 arithmetic should show: did the GPU run at all?"


def test_a_100_keypoint_models_file_passes_on_the_gpu():
    model = hundred_keypoint_model()[0]
    for runtime in (GPU, GPU_FP32):
        result = parity(model, hundred_keypoint(), runtime)
        assert result, result.message(f"the 100-keypoint model's file on {runtime}")


def test_with_fp32_enforced_the_gpu_agrees_with_the_fp32_bound():
    result = parity(fixture_model()[0], genuine(), GPU_FP32)
    assert result, result.message("fp32 enforced")
    assert result.max_abs_err < 1e-4, result.message("fp32 enforced")


def test_a_file_with_the_old_mask_fill_gives_non_finite_logits_on_the_gpu():
    model, path = old_mask_file()
    on_gpu = parity(model, path, GPU)
    assert not on_gpu
    assert "non-finite logits" in on_gpu.message(), on_gpu.message()
    with_fp32 = parity(model, path, GPU_FP32)
    assert with_fp32, with_fp32.message("the old file with fp32 enforced")


@pytest.mark.parametrize("fault", ["mask-ignored-in-encoder", "last-frame-pooling"])
def test_the_self_test_faults_fail_on_the_gpu_too(fault):
    result = parity(fixture_model()[0], broken(fault), GPU)
    assert not result, f"{fault} passed on the GPU: {result.message()}"


def test_the_dynamic_int8_file_is_a_finding_not_a_crash():
    from signbart_parity.errors import AcceleratorRefused
    from signbart_parity.runtime.run.tflite import TFLiteModel

    path = genuine(SEQ_LEN, "dynamic-int8")
    with pytest.raises(AcceleratorRefused, match="does not load on the GPU accelerator: "):
        TFLiteModel(path, runtime=GPU_FP32)
    # At the default precision it loads; its int8 products are then not what the CPU gives.
    assert not parity(fixture_model()[0], path, GPU, "dynamic-int8")


def test_the_report_names_the_device_and_the_partition():
    from signbart_parity.reports.text import describe_build
    from signbart_parity.runtime.run.tflite import TFLiteModel

    build = TFLiteModel(genuine(), runtime=GPU).runtime_build
    text = describe_build(build)
    assert build["accelerator"] == "gpu" and build["fully_accelerated"] is True, build
    assert "a software GPU" in text and "Vulkan" in text, text
    assert f"{build['ops']} ops, all on the GPU" in text, text


# ---------------------------------------------------------------- the command line


def test_verify_on_the_gpu_passes_the_exporters_file():
    done = run_cli("verify", "--tflite", genuine(), *MODEL_ARGS, "--runtime", GPU)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GPU accelerator, default (fp16) precision" in done.stdout
    assert "parity holds" in done.stdout


def test_verify_names_a_gpu_refusal_as_a_finding():
    path = genuine(SEQ_LEN, "dynamic-int8")
    done = run_cli("verify", "--tflite", path, *MODEL_ARGS, "--runtime", GPU_FP32)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILS ON THE GPU" in done.stdout and "does not load on the GPU" in done.stdout


def test_an_unknown_gpu_precision_is_one_line_exit_2():
    done = run_cli("verify", "--tflite", genuine(), *MODEL_ARGS, "--runtime", "compiled@gpu:fp8")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "unknown GPU precision" in lines[0] and "compiled@gpu:fp32" in lines[0], lines[0]


def test_no_vulkan_driver_is_one_line_naming_what_to_install(tmp_path, monkeypatch):
    # The Vulkan loader's own override: a driver list naming no file means no device.
    monkeypatch.setitem(os.environ, "VK_DRIVER_FILES", str(tmp_path / "none.json"))
    done = run_cli("verify", "--tflite", genuine(), *MODEL_ARGS, "--runtime", GPU)
    line = one_error_line(done)
    assert "no Vulkan driver" in line and "mesa-vulkan-drivers" in line, line


# ---------------------------------------------------------------- trusting the device


def test_runtimes_prepare_names_the_device_and_trusts_it():
    done = run_cli("runtimes", "prepare", GPU)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Vulkan device llvmpipe" in done.stdout or "Vulkan device" in done.stdout
    assert "trusted: a known matrix product with fp32 enforced agrees" in done.stdout


def test_the_device_check_refuses_a_device_that_misses_its_bound():
    from signbart_parity.runtime import gpu

    verdict = gpu.require_trusted_device()
    assert verdict["relative_error"] <= gpu.PROBE_TOLERANCE, verdict
    # A bound below what this device measured: the same check must refuse, with numbers.
    with pytest.raises(gpu.GpuUntrusted, match=r"differs from LiteRT's CPU by .* \(allowed"):
        gpu.require_trusted_device(tolerance=verdict["relative_error"] / 2 - 1e-30)


# ---------------------------------------------------------------- the gate


@pytest.mark.parametrize("model", ["default", "100-keypoint"])
def test_the_gate_with_the_gpu_passes_and_reports_the_device(model, pytester, tmp_path):
    from tests.helpers import write_model
    from tests.tflite_files import shared_gate_cache

    checkpoint = []
    if model == "100-keypoint":
        config_path, checkpoint_path = write_model(tmp_path, keypoints=100)
        checkpoint = [f"--checkpoint={checkpoint_path}", f"--config={config_path}"]
    result = pytester.runpytest_subprocess(
        *"--pyargs signbart_parity.gate -p no:cacheprovider".split(),
        *shared_gate_cache(tmp_path / "corpus"),
        "--parity-report=report",
        "--parity-seq-lens=16",
        "--parity-quantization=none",
        f"--parity-runtime=litert,{GPU}",
        "--parity-profile=ci",
        *checkpoint,
    )
    output = result.stdout.str()
    assert result.ret == 0, output
    assert "GPU: NOT CHECKED" not in output
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    (build,) = [r["runtime_build"] for r in report["results"] if r["runtime"] == GPU]
    assert build["accelerator"] == "gpu" and build["fully_accelerated"], build
    assert build["device"]["software"] and build["device"]["backend"] == "Vulkan", build
    page = (pytester.path / "report" / "parity.html").read_text()
    assert "a software GPU" in page and "all on the GPU" in page


# ---------------------------------------------------------------- hazards read from a file


class _Fill(torch.nn.Module):
    def __init__(self, fill: float) -> None:
        super().__init__()
        self.fill = fill

    def forward(self, scores, mask):
        bias = (1.0 - mask.to(torch.float32)) * self.fill
        return (scores + bias[:, None, None, :]).softmax(-1)


class _PlusRows(torch.nn.Module):
    """A runtime tensor plus a (1, 4, 6) constant: a row per frame."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank
        self.register_buffer("rows", torch.linspace(-1, 1, 4 * 6).reshape(1, 4, 6))

    def forward(self, keypoints, mask):
        x = keypoints[0, :, :, 0] if self.rank == 2 else keypoints[..., 0]
        rows = self.rows[0] if self.rank == 2 else self.rows
        return (x + rows).sum(-1) + mask


def _convert(module, inputs, path):
    import litert_torch

    path.write_bytes(litert_torch.convert(module.eval(), inputs).model_content())
    return path


@pytest.mark.parametrize(
    ("name", "module", "inputs", "hazard"),
    [
        ("fp32-min fill", _Fill(torch.finfo(torch.float32).min), "scores", "beyond fp16's range"),
        ("fp16-safe fill", _Fill(-3e4), "scores", None),
        ("rank-2 plus rows", _PlusRows(2), "rows", "a rank-2 tensor"),
        ("rank-3 plus rows", _PlusRows(3), "rows", None),
    ],
)
def test_inspect_names_gpu_hazards_read_from_the_file(name, module, inputs, hazard, tmp_path):
    mask = torch.ones(1, 4, dtype=torch.int64)
    args = (torch.rand(1, 2, 4, 4) if inputs == "scores" else torch.rand(1, 4, 6, 2), mask)
    path = _convert(module, args, tmp_path / "island.tflite")
    done = run_cli("inspect", "--tflite", path)
    assert done.returncode == 0, done.stderr
    if hazard is None:
        assert "GPU hazards: none found" in done.stdout, done.stdout
    else:
        assert "GPU hazards: 1" in done.stdout and hazard in done.stdout, done.stdout


def test_verify_names_the_old_files_hazards_and_its_non_finite_logits():
    done = run_cli("verify", "--tflite", old_mask_file()[1], *MODEL_ARGS, "--runtime", GPU)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "GPU hazard: op" in done.stdout and "beyond fp16's range" in done.stdout
    assert "have non-finite logits (NaN or inf)" in done.stdout, done.stdout

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


# ---------------------------------------------------------------- a pinned build on the GPU

PINNED_GPU = "compiled==2.3.0@gpu"


@pytest.fixture
def pinned_gpu(monkeypatch):
    """compiled==2.3.0's environment in the shared test folder (as test_runtime_builds makes
    its pinned builds: once per machine), its workers stopped afterwards."""
    from signbart_parity.runtime.provision.venvs import CACHE_VARIABLE, prepare
    from signbart_parity.runtime.worker import client
    from signbart_parity.runtime_specs import parse_runtime_spec
    from tests.tflite_files import cache_root

    monkeypatch.setenv(CACHE_VARIABLE, str(cache_root()))
    prepare(parse_runtime_spec(PINNED_GPU))
    yield
    client.close_workers()


def test_a_pinned_litert_build_on_the_gpu_runs_in_its_worker_and_agrees(pinned_gpu):
    from signbart_parity.runtime.run.tflite import TFLiteModel
    from signbart_parity.runtime.worker import client

    in_process = TFLiteModel(genuine(), runtime=GPU_FP32)
    pinned = TFLiteModel(genuine(), runtime=f"{PINNED_GPU}:fp32")
    build = pinned.runtime_build
    assert "python" in build, build  # the worker's own description of its build
    assert build["version"] == "2.3.0" and build["gpu_precision"] == "fp32 enforced", build
    assert build["device"]["backend"] == "Vulkan" and build["fully_accelerated"], build
    assert client.worker_for(f"{PINNED_GPU}:fp32").alive
    keypoints, masks = every_mask_kind(pinned.signature.num_keypoints)
    masks = masks.astype(np.int32)
    np.testing.assert_allclose(pinned(keypoints, masks), in_process(keypoints, masks), atol=1e-5)
    # The accelerator's own refusal comes back from the worker, as in process.
    from signbart_parity.errors import AcceleratorRefused

    with pytest.raises(AcceleratorRefused, match="GPU accelerator: INVALID_ARGUMENT: Unable"):
        TFLiteModel(genuine(SEQ_LEN, "dynamic-int8"), runtime=f"{PINNED_GPU}:fp32")


# verify's fixed batch cut to one example of each keypoint kind x mask kind (12, not 72), where
# the test's subject is not the default depth (that is test_verify_on_the_gpu_passes_...'s).
FEW = ("--examples", "12")


def test_verify_runs_a_pinned_build_on_the_gpu_at_its_default_precision(pinned_gpu):
    done = run_cli("verify", "--tflite", genuine(), *MODEL_ARGS, "--runtime", PINNED_GPU, *FEW)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "compiled 2.3.0 on x86_64, GPU accelerator, default (fp16) precision" in done.stdout
    assert "a software GPU" in done.stdout and "parity holds" in done.stdout, done.stdout
    for stream in (done.stdout, done.stderr):  # the worker's chatter stays out too
        assert "OpenCL" not in stream and "INFO:" not in stream, stream


# ---------------------------------------------------------------- what fell back to the CPU


class _Gathers(torch.nn.Module):
    """Picks a frame by a runtime index: a GATHER_ND, which LiteRT's GPU does not take."""

    def forward(self, x, index):
        picked = x[torch.arange(1), index[:, 0]]
        return x.sum(-1) * 2.0 + picked.sum(-1, keepdim=True)


def test_the_cpu_fallback_is_what_the_accelerator_says(tmp_path):
    from signbart_parity.runtime.gpu import partition_words
    from signbart_parity.runtime.run.tflite import _open_backend
    from signbart_parity.runtime_specs import parse_runtime_spec

    index = torch.zeros(1, 8, dtype=torch.int32)
    path = _convert(_Gathers(), (torch.rand(1, 8, 4), index), tmp_path / "gathers.tflite")
    backend = _open_backend(path, parse_runtime_spec(GPU_FP32), None, True)
    backend.open(backend.signature_names[0])
    build = backend.build
    assert not build["fully_accelerated"], build
    assert build["cpu_fallback_source"] == "accelerator", build
    assert build["cpu_fallback"] == ["GATHER_ND"], build
    assert build["cpu_fallback_reasons"]["GATHER_ND"] == "Operation is not supported", build
    assert build["gpu_ops"] + build["cpu_ops"] == build["ops"] and build["cpu_ops"] >= 1, build
    words = partition_words(build)
    assert f"{build['cpu_ops']} on the CPU; the accelerator does not support GATHER_ND" in words


# ---------------------------------------------------------------- the command line


def test_verify_on_the_gpu_passes_the_exporters_file():
    done = run_cli("verify", "--tflite", genuine(), *MODEL_ARGS, "--runtime", GPU)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GPU accelerator, default (fp16) precision" in done.stdout
    assert "parity holds" in done.stdout
    # The accelerator's start-up chatter (its OpenCL look-up prints to stdout) is filtered.
    for stream in (done.stdout, done.stderr):
        assert "OpenCL" not in stream and "INFO:" not in stream, stream


def test_verify_names_a_gpu_refusal_as_a_finding():
    path = genuine(SEQ_LEN, "dynamic-int8")
    done = run_cli("verify", "--tflite", path, *MODEL_ARGS, "--runtime", GPU_FP32)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILS ON THE GPU" in done.stdout and "does not load on the GPU" in done.stdout


def test_an_unknown_gpu_precision_is_one_line_exit_2():
    done = run_cli("verify", "--tflite", genuine(), *MODEL_ARGS, "--runtime", "compiled@gpu:fp8")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "unknown GPU precision" in lines[0], lines[0]
    assert "compiled@gpu:fp32" in lines[0], lines[0]


def test_no_vulkan_driver_is_one_line_naming_what_to_install(tmp_path, monkeypatch):
    # The Vulkan loader's own override: a driver list naming no file means no device.
    monkeypatch.setitem(os.environ, "VK_DRIVER_FILES", str(tmp_path / "none.json"))
    done = run_cli("verify", "--tflite", genuine(), *MODEL_ARGS, "--runtime", GPU)
    line = one_error_line(done)
    assert "no Vulkan driver" in line and "mesa-vulkan-drivers" in line, line


def test_golden_check_runs_on_the_gpu(tmp_path):
    from tests.cli import run_in_process

    golden = tmp_path / "golden-16.npz"
    made = run_in_process("golden", "create", *MODEL_ARGS, "--seq-len", "16", "--output", golden)
    assert made.returncode == 0, made.stdout + made.stderr
    done = run_in_process(
        "golden", "check", "--tflite", genuine(), "--golden", golden, "--runtime", GPU
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"({GPU} runtime)" in done.stdout and "parity holds" in done.stdout, done.stdout


def test_bench_times_the_gpu():
    from tests.cli import run_in_process

    done = run_in_process(
        "bench", *MODEL_ARGS, "--seq-len", str(SEQ_LEN), "--threads", "1",
        "--quantization", "none", "--iterations", "3", "--runtime", GPU, "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"TFLite fp32 [{GPU}]" in done.stdout, done.stdout
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["runtime"] == GPU and summary["tflite_ms"]["fp32"] > 0, summary


# ---------------------------------------------------------------- trusting the device


def test_runtimes_prepare_names_the_device_and_trusts_it():
    done = run_cli("runtimes", "prepare", GPU)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Vulkan device llvmpipe" in done.stdout or "Vulkan device" in done.stdout
    assert "trusted: known small graphs with fp32 enforced agree with the CPU" in done.stdout
    assert "matrix product " in done.stdout and "attention block " in done.stdout, done.stdout


def test_the_device_check_runs_an_attention_block_and_refuses_a_device_that_misses_its_bound(
    tmp_path, monkeypatch
):
    from signbart_parity.runtime import gpu
    from signbart_parity.runtime.provision.venvs import CACHE_VARIABLE

    # A fresh cache dir and no remembered verdict: the probes really run here.
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path))
    monkeypatch.setattr(gpu, "_VERDICT", {})
    verdict = gpu.require_trusted_device()
    assert verdict["cached"] is None, verdict
    assert set(verdict["checks"]) == {"matrix product", "attention block"}, verdict
    assert all(verdict["fully_accelerated"].values()), verdict  # the GPU computed them
    for name, error in verdict["checks"].items():
        assert error <= gpu.PROBE_TOLERANCE, f"{name}: {verdict}"
    # A bound of 0 (no device's fp32 rounding meets it): the same check must refuse, with
    # every probe's number.
    with pytest.raises(gpu.GpuUntrusted, match="disagree with LiteRT's CPU") as refused:
        gpu.require_trusted_device(tolerance=0.0)
    message = str(refused.value)
    for name, error in verdict["checks"].items():
        assert f"{name} {error:.2g}" in message, message
    assert "allowed 0;" in message or "allowed 0," in message, message


def test_the_attention_probe_is_attention_in_the_form_the_gpu_computes_right(tmp_path):
    from signbart_parity.runtime.gpu import gpu_hazards, op_names
    from signbart_parity.runtime.provision.gpu_probe import attention_block

    path, (x, mask) = attention_block(tmp_path)
    ops = op_names(path, "serving_default")
    for op in ("FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX", "ADD", "MUL"):
        assert op in ops, ops
    assert gpu_hazards(path) == []  # no fp16-overflowing fill, no #8593 shape
    assert 0 < mask.sum() < mask.size  # some keys masked: the mask is exercised


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
    done = run_cli("verify", "--tflite", old_mask_file()[1], *MODEL_ARGS, "--runtime", GPU, *FEW)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "GPU hazard: op" in done.stdout and "beyond fp16's range" in done.stdout
    assert "have non-finite logits (NaN or inf)" in done.stdout, done.stdout


def test_tensorflow_and_the_gpu_in_one_verify_each_give_their_verdict():
    """TensorFlow's native libraries beside the GPU accelerator segfaulted the process
    (exit 139, no verdict for the second runtime); TensorFlow now runs in a worker."""
    runtimes = f"tensorflow,{GPU}"
    done = run_cli("verify", "--tflite", genuine(), *MODEL_ARGS, "--runtime", runtimes, *FEW)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("parity holds") == 2, done.stdout
    assert "(tensorflow runtime)" in done.stdout and f"({GPU} runtime)" in done.stdout

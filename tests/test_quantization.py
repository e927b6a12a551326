"""Each quantization mode: its tolerance passes on the genuine file and fails on a broken one.

A tolerance can only see a fault larger than its precision's own error. fp32 and fp16 are
broken subtly (0.5% noise in one weight matrix); the int8 modes, whose error is a few % of
the logit scale, with 30% noise in the same matrix (see tolerances.py for the numbers).
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import pytest

from signbart_parity.argtypes import quantizations as parse_quantizations
from signbart_parity.checks.compare import compare_logits
from signbart_parity.checks.reference import torch_logits
from signbart_parity.inputs.calibration import GENERATED, REAL, calibration_set
from signbart_parity.inputs.masks import MASK_KINDS, mask_patterns
from signbart_parity.targets import QUANTIZATIONS
from signbart_parity.targets import precision_label as label
from tests.helpers import CHECKPOINT, CONFIG, SAMPLE

SEQ_LEN = 16
NOISY_WEIGHT = "classification_head.out_proj.weight"
SUBTLE, GROSS = 0.005, 0.3
FAULT = {
    "none": SUBTLE,
    "fp16": SUBTLE,
    "weight-only-int8": GROSS,
    "dynamic-int8": GROSS,
    "static-int8": GROSS,
}


def with_weight_noise(model, fraction: float, seed: int = 0):
    """A copy of ``model`` with Gaussian noise of ``fraction`` x mean |w| in one matrix."""
    import torch

    broken = copy.deepcopy(model)
    weight = dict(broken.named_parameters())[NOISY_WEIGHT]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        weight.add_(torch.randn(weight.shape, generator=generator) * fraction * weight.abs().mean())
    return broken


@pytest.fixture(scope="module")
def genuine():
    from signbart_parity.model.checkpoint import load_signbart_model

    return load_signbart_model(CONFIG, CHECKPOINT)


@pytest.fixture(scope="module")
def inputs(genuine):
    """Real-like sequences, plus the first six again under each fixed mask kind."""
    from signbart_parity.inputs.synthetic import real_like_batch

    _, config = genuine
    keypoints, masks, _ = real_like_batch(
        np.random.default_rng(7),
        count=24,
        seq_len=SEQ_LEN,
        num_keypoints=config.min_input_keypoints,
        num_labels=config.num_labels,
    )
    patterns = mask_patterns(SEQ_LEN)
    kinds = np.stack([patterns[kind] for kind in MASK_KINDS])
    return np.concatenate([keypoints, keypoints[: len(kinds)]]), np.concatenate([masks, kinds])


@pytest.fixture(scope="module")
def files(genuine):
    """{"genuine"|"broken": {quantization: path}}: three fp32 exports in all, through the
    tests' shared export cache (the genuine fp32 file is the one other tests use)."""
    from signbart_parity.export.exporter import Exporter
    from tests.tflite_files import _cache

    model, config = genuine
    calibration = calibration_set(config, SEQ_LEN, count=32)
    converted = {"genuine": {}, "broken": {}}
    plans = [("genuine", model, QUANTIZATIONS)]
    for fraction in (SUBTLE, GROSS):
        modes = [q for q in QUANTIZATIONS if FAULT[q] == fraction]
        plans.append(("broken", with_weight_noise(model, fraction), modes))
    for kind, variant, quantizations in plans:
        exporter = Exporter(
            variant, cache=_cache(), calibrate=lambda lengths: {SEQ_LEN: calibration}
        )
        made = exporter.export_all(SEQ_LEN, quantizations)
        converted[kind] |= {q: made[label(q)].path for q in quantizations}
    return converted


def _compare(genuine, inputs, path, quantization):
    from signbart_parity.checks.tolerances import tolerance_for
    from signbart_parity.runtime.run.tflite import TFLiteModel

    model, _ = genuine
    keypoints, masks = inputs
    reference = torch_logits(model, keypoints, masks)
    candidate = TFLiteModel(path)(keypoints, masks)
    return compare_logits(reference, candidate, tolerance_for(quantization), masks=masks)


@pytest.mark.slow
@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_tolerance_passes_on_genuine_file(genuine, inputs, files, quantization):
    comparison = _compare(genuine, inputs, files["genuine"][quantization], quantization)
    assert comparison.passed, comparison.message(f"genuine {quantization} file")
    # Headroom: the measured error stays well inside the bound.
    assert comparison.bound_ratio < 0.8, comparison.message(f"genuine {quantization} file")


@pytest.mark.slow
@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_tolerance_fails_on_broken_file(genuine, inputs, files, quantization):
    comparison = _compare(genuine, inputs, files["broken"][quantization], quantization)
    assert not comparison.passed, comparison.message(
        f"{quantization} file of a model with {FAULT[quantization]:.1%} noise in {NOISY_WEIGHT}"
    )


@pytest.mark.slow
def test_quantized_files_are_smaller(files):
    fp32 = files["genuine"]["none"].stat().st_size
    sizes = {q: path.stat().st_size / fp32 for q, path in files["genuine"].items()}
    assert sizes["fp16"] < 0.6, sizes
    for quantization in ("dynamic-int8", "weight-only-int8", "static-int8"):
        assert sizes[quantization] < 0.4, sizes


def test_calibration_uses_real_samples_when_given(genuine, tmp_path):
    _, config = genuine
    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(b"not a pickle")
    real = calibration_set(config, SEQ_LEN, samples=[corrupt, SAMPLE])
    assert real.source == REAL and real.files == (str(SAMPLE),)
    keypoints, mask = real.inputs[0]
    assert keypoints.shape == (1, SEQ_LEN, config.min_input_keypoints, 2)
    assert mask.shape == (1, SEQ_LEN) and mask.sum() > 0
    assert "real samples" in real.describe()


def test_calibration_falls_back_to_generated_sequences(genuine, tmp_path):
    _, config = genuine
    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(b"not a pickle")
    for samples in ((), (corrupt,)):
        generated = calibration_set(config, SEQ_LEN, samples=samples, count=5)
        assert generated.source == GENERATED and len(generated.inputs) == 5
        assert generated.to_dict() == {"source": GENERATED, "count": 5, "files": []}


def test_parse_quantizations_accepts_fp32_alias_and_rejects_unknown_names():
    assert parse_quantizations("fp32, dynamic-int8,none") == ("none", "dynamic-int8")
    with pytest.raises(argparse.ArgumentTypeError, match="int4"):
        parse_quantizations("none,int4")

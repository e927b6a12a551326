"""Divergence localisation: the first stage where a TFLite file departs from PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signbart_parity.divergence import (
    compare_stages,
    influential_frames,
    localise_in_file,
    localise_with_debug_export,
)
from signbart_parity.masks import mask_patterns
from tests.tflite_files import broken, fixture_model, genuine, scratch

STAGES = ["projection_x", "encoder_layer_0", "pooled", "logits"]


def _example(kind: str = "right-padded", seq_len: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    keypoints = rng.random((1, seq_len, 90, 2), dtype=np.float32)
    return keypoints, mask_patterns(seq_len)[kind][None]


def _reference(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = {"projection_x": (1, 4, 3), "encoder_layer_0": (1, 4, 3), "pooled": (1, 3)}
    values = {name: rng.normal(size=shape) for name, shape in shapes.items()}
    values["logits"] = rng.normal(size=(1, 5))
    return values


def test_first_divergence_follows_the_last_agreeing_stage() -> None:
    reference = _reference()
    file_tensors = [(f"t{i}", value + 1e-7) for i, value in enumerate(reference.values())]
    file_tensors[2] = ("t2", reference["pooled"] + 0.5)
    file_tensors[3] = ("t3", reference["logits"] + 0.3)
    result = compare_stages(
        {name: [value] for name, value in reference.items()},
        {name: file_tensors for name in reference},
        frames=np.arange(4),
        precision="none",
        method="test",
    )
    assert result.first == "pooled"
    assert result.summary().startswith("first divergence: pooled (max abs err 0.5; ")
    assert "projection_x, encoder_layer_0 agree to 1e-07" in result.summary()


def test_a_stage_fused_away_is_not_visible_when_later_stages_agree() -> None:
    reference = _reference()
    file_tensors = [(name, value) for name, value in reference.items() if name != "projection_x"]
    result = compare_stages(
        {name: [value] for name, value in reference.items()},
        {name: file_tensors for name in reference},
        frames=np.arange(4),
        precision="none",
        method="test",
    )
    assert result.first is None and result.not_visible == ["projection_x"]
    assert result.summary().startswith("no divergence")


def test_padded_frames_do_not_count() -> None:
    reference = _reference()
    shifted = reference["encoder_layer_0"].copy()
    shifted[:, 3] += 10.0  # a padded frame: masked everywhere downstream
    tensors = [("enc", shifted)] + [(n, v) for n, v in reference.items() if n != "encoder_layer_0"]
    mask = np.array([[1, 1, 1, 0]])
    result = compare_stages(
        {name: [value] for name, value in reference.items()},
        {name: tensors for name in reference},
        frames=influential_frames(mask),
        precision="none",
        method="test",
    )
    assert result.first is None
    np.testing.assert_array_equal(influential_frames(np.zeros((1, 4))), [0])


@pytest.mark.slow
def test_genuine_file_has_no_divergence() -> None:
    model, _ = fixture_model()
    keypoints, mask = _example("holes")
    result = localise_in_file(model, genuine(), keypoints, mask)
    assert result.first is None, result.summary()
    visible = [stage for stage in result.stages if stage.agrees]
    assert [s.stage for s in visible][-1] == "logits"
    assert all(s.max_abs_err < 1e-4 for s in visible)


@pytest.mark.slow
def test_genuine_int8_file_has_no_divergence_at_its_precision() -> None:
    model, _ = fixture_model()
    keypoints, mask = _example("all-valid", seed=3)
    path = genuine(quantization="dynamic-int8")
    assert localise_in_file(model, path, keypoints, mask, precision="dynamic-int8").first is None
    assert localise_in_file(model, path, keypoints, mask, precision="none").first is not None


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault, stage",
    [("mask-ignored-in-encoder", "encoder_layer_0"), ("last-frame-pooling", "pooled")],
)
def test_broken_file_diverges_at_the_faulty_stage(fault: str, stage: str) -> None:
    model, _ = fixture_model()
    keypoints, mask = _example("right-padded")
    result = localise_in_file(model, broken(fault), keypoints, mask)
    assert result.first == stage, result.summary()
    assert result.summary().startswith(f"first divergence: {stage} (max abs err ")
    assert "; projection_x/y" in result.summary() and " agree to " in result.summary()


@pytest.mark.slow
def test_debug_export_of_the_checkpoint_agrees_stage_by_stage() -> None:
    from signbart_parity.divergence import export_debug

    model, _ = fixture_model()
    path = Path(scratch()) / "debug-16.tflite"
    names = export_debug(model, seq_len=16, output=path)
    assert names[:2] == ["projection_x", "projection_y"] and names[-2:] == ["pooled", "logits"]
    for kind in ("all-valid", "right-padded", "single-frame"):
        keypoints, mask = _example(kind)
        result = localise_with_debug_export(model, path, keypoints, mask)
        assert result.first is None and not result.not_visible, result.summary()
        assert all(stage.max_abs_err < 1e-4 for stage in result.stages)

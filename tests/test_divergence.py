"""Divergence localisation: the first stage where a TFLite file departs from PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from signbart_parity.checks.divergence import (
    Divergence,
    compare_stages,
    influential_frames,
    localise_in_file,
    reference_stages,
)
from signbart_parity.inputs.masks import mask_patterns
from tests.tflite_files import broken, fixture_model, genuine, scratch

if TYPE_CHECKING:
    import torch

    from signbart_parity.model.signbart import SignBart

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
    model, _ = fixture_model()
    path = Path(scratch()) / "debug-16.tflite"
    names = export_debug(model, seq_len=16, output=path)
    assert names[:2] == ["projection_x", "projection_y"] and names[-2:] == ["pooled", "logits"]
    for kind in ("all-valid", "right-padded", "single-frame"):
        keypoints, mask = _example(kind)
        result = localise_with_debug_export(model, path, keypoints, mask)
        assert result.first is None and not result.not_visible, result.summary()
        assert all(stage.max_abs_err < 1e-4 for stage in result.stages)


# ---------------------------------------------------------------- debug export
# Converting the checkpoint with every stage as an output checks that the stage decomposition
# above is the converter's own, stage by stage (a test of this project, not a user feature).


def stages_module(model: SignBart) -> torch.nn.Module:
    """A module whose outputs are all of ``model.stages`` as a tuple, in order."""
    import torch

    class AllStages(torch.nn.Module):
        def __init__(self, inner: SignBart) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, keypoints: torch.Tensor, attention_mask: torch.Tensor):
            return tuple(self.inner.stages(keypoints, attention_mask).values())

    return AllStages(model).eval()


def export_debug(model: SignBart, *, seq_len: int, output: str | Path) -> list[str]:
    """Convert ``model`` with every stage as an output; returns the stage names in order."""
    from signbart_parity.errors import ToolchainError
    from signbart_parity.export.fp32 import sample_inputs
    from signbart_parity.fileio import atomic_path
    from signbart_parity.quiet import converter_quieted

    model.config.check_seq_lens(seq_len)
    inputs = sample_inputs(model.config, seq_len)
    names = list(reference_stages(model, inputs[0].numpy(), inputs[1].numpy()))
    with converter_quieted():
        import litert_torch

        try:
            converted = litert_torch.convert(stages_module(model), inputs)
        except Exception as exc:  # the converter raises many types; report them as one
            raise ToolchainError(
                f"litert-torch could not convert the debug (all-stages) model: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    with atomic_path(output) as temp:
        temp.write_bytes(converted.model_content())
    return names


def debug_outputs(
    path: str | Path, keypoints: np.ndarray, attention_mask: np.ndarray
) -> list[np.ndarray]:
    """The debug file's outputs (output_0, output_1, ...) for one batch-1 example."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner()
    feeds = {}
    for key, detail in runner.get_input_details().items():
        value = keypoints if len(detail["shape"]) == 4 else attention_mask
        feeds[key] = np.ascontiguousarray(value, dtype=detail["dtype"])
    outputs = runner(**feeds)
    return [outputs[key] for key in sorted(outputs, key=lambda k: int(k.rsplit("_", 1)[-1]))]


def localise_with_debug_export(
    model: SignBart,
    debug_path: str | Path,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    *,
    precision: str = "none",
) -> Divergence:
    """Compare ``model``'s stages with its own debug export (``export_debug``), in order."""
    reference = reference_stages(model, keypoints, attention_mask)
    outputs = debug_outputs(debug_path, keypoints, attention_mask)
    if len(outputs) != len(reference):
        raise ValueError(
            f"{debug_path}: has {len(outputs)} outputs but the model has {len(reference)} "
            "stages; export it again with export_debug."
        )
    candidates = {
        stage: [(f"output_{i}", value)]
        for i, (stage, value) in enumerate(zip(reference, outputs, strict=True))
    }
    return compare_stages(
        {stage: [value] for stage, value in reference.items()},
        candidates,
        frames=influential_frames(attention_mask),
        precision=precision,
        method="debug export",
    )

"""Careless checkpoints are named for what they are, one line and exit 2: a .tflite passed
as the checkpoint, meta tensors (shapes without values), integer weights."""

from __future__ import annotations

import torch

from signbart_parity.model.checkpoint import read_state_dict
from signbart_parity.model.default import DEFAULT_CHECKPOINT
from tests.cli import one_error_line, run_in_process


def _convert(checkpoint, tmp_path):
    return run_in_process(
        "convert", "--checkpoint", checkpoint, "-o", tmp_path / "m.tflite", "--seq-len", "16"
    )


def test_a_tflite_given_as_the_checkpoint_is_called_a_tflite(tmp_path):
    from tests.tflite_files import genuine

    line = one_error_line(_convert(genuine(), tmp_path))
    assert "is a .tflite file, not a PyTorch checkpoint" in line and "unsafe" not in line


def test_a_checkpoint_of_meta_tensors_is_one_line(tmp_path):
    state = {
        k: torch.empty_like(v, device="meta")
        for k, v in read_state_dict(DEFAULT_CHECKPOINT).items()
    }
    path = tmp_path / "meta.pth"
    torch.save(state, path)
    assert "is a meta tensor (a shape without values)" in one_error_line(_convert(path, tmp_path))


def test_integer_weights_are_not_cast_silently(tmp_path):
    state = dict(read_state_dict(DEFAULT_CHECKPOINT))
    key = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 2)
    state[key] = (state[key] * 1000).to(torch.int64)
    path = tmp_path / "int.pth"
    torch.save(state, path)
    line = one_error_line(_convert(path, tmp_path))
    assert f"'{key}' holds torch.int64 values but the model's are torch.float32" in line
    assert not (tmp_path / "m.tflite").exists()


def test_a_folder_given_as_the_checkpoint_is_not_found(tmp_path):
    assert "checkpoint file not found" in one_error_line(_convert(tmp_path, tmp_path))

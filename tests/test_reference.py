"""PyTorch's reference logits are computed once per model and input (checks/reference.py)."""

from __future__ import annotations

import copy

import numpy as np
import torch

from signbart_parity.checks import reference
from signbart_parity.checks.reference import torch_logits
from tests.tflite_files import fixture_model


def _inputs(seed: int, batch: int = 3, seq_len: int = 16):
    model, config = fixture_model()
    rng = np.random.default_rng(seed)
    keypoints = rng.random((batch, seq_len, config.min_input_keypoints, 2), dtype=np.float32)
    masks = np.ones((batch, seq_len), dtype=np.int64)
    masks[0, seq_len // 2 :] = 0
    return model, keypoints, masks


def _counting_forward(monkeypatch) -> list:
    calls = []
    real = reference._forward

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(reference, "_forward", counted)
    return calls


def test_the_same_input_runs_pytorch_once_and_gives_the_same_logits(monkeypatch):
    model, keypoints, masks = _inputs(seed=11)
    calls = _counting_forward(monkeypatch)
    first = torch_logits(model, keypoints, masks)
    first[:] = np.nan  # a caller that writes into its result does not change the next one
    second = torch_logits(model, keypoints.copy(), masks.astype(np.int32))
    assert len(calls) == 1
    with torch.no_grad():
        _, expected = model(torch.from_numpy(keypoints), torch.from_numpy(masks))
    np.testing.assert_array_equal(second, expected.double().numpy())


def test_another_input_or_another_model_runs_pytorch_again(monkeypatch):
    model, keypoints, masks = _inputs(seed=12)
    calls = _counting_forward(monkeypatch)
    base = torch_logits(model, keypoints, masks)
    other_mask = masks.copy()
    other_mask[1, -1] = 0
    torch_logits(model, keypoints, other_mask)
    changed = copy.deepcopy(model)
    with torch.no_grad():
        next(changed.parameters()).add_(1.0)
    moved = torch_logits(changed, keypoints, masks)
    assert len(calls) == 3
    assert not np.allclose(base, moved)

"""PyTorch as the reference: its logits for numpy inputs, and a float64 copy of the model."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from signbart_parity.model.signbart import SignBart


def torch_logits(model: SignBart, keypoints: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """PyTorch logits (N, C) in the model's own dtype, returned as float64."""
    import torch

    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        _, logits = model(
            torch.as_tensor(np.asarray(keypoints), dtype=dtype),
            torch.as_tensor(np.asarray(attention_mask, dtype=np.int64)),
        )
    return logits.double().numpy()


def oracle_errors(
    reference: np.ndarray, candidate: np.ndarray, exact: np.ndarray
) -> tuple[float, float]:
    """(PyTorch fp32, TFLite) max abs error against the float64 oracle's logits ``exact``:
    how far each fp32 implementation is from exact arithmetic, side by side."""
    return float(np.abs(reference - exact).max()), float(np.abs(candidate - exact).max())


def float64_oracle(model: SignBart) -> SignBart:
    """A float64 copy of ``model``: the reference both fp32 runtimes are measured against."""
    return copy.deepcopy(model).double().eval()

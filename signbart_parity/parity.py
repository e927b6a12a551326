"""Run PyTorch and TFLite on the same inputs and compare them."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.masks import MASK_KINDS, mask_patterns

if TYPE_CHECKING:
    from signbart_parity.model import SignBart

FIXED_INPUT_NAMES = ("seed-guide sample",) + MASK_KINDS


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


def float64_oracle(model: SignBart) -> SignBart:
    """A float64 copy of ``model``: the reference both fp32 runtimes are measured against."""
    return copy.deepcopy(model).double().eval()


def fixed_inputs(num_keypoints: int, seq_len: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The seed guide's check (uniform keypoints, all-ones mask) plus one input per mask kind."""
    rng = np.random.default_rng(seed)
    patterns = mask_patterns(seq_len)
    masks = np.stack([np.ones(seq_len, dtype=np.int64)] + [patterns[k] for k in MASK_KINDS])
    keypoints = rng.random((len(masks), seq_len, num_keypoints, 2), dtype=np.float32)
    return keypoints, masks

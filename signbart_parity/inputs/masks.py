"""Attention-mask patterns an app really produces, plus the degenerate ones.

Expected behaviour, which every runtime must share with PyTorch:
- valid frames are 1, padding 0; frames need not be contiguous (holes are allowed);
- the pooled frame is the last valid one;
- an all-zero mask is defined, not an error: attention becomes uniform and pooling reads
  frame 0, so the logits depend only on frame 0's position embedding and keypoints. Apps
  should never send it, but the file must still agree with PyTorch on it.
"""

from __future__ import annotations

import numpy as np

MASK_KINDS = ("all-valid", "right-padded", "left-padded", "holes", "single-frame", "all-zero")
# Kinds that stay meaningful when L frames are right-padded to a longer seq_len (bucket and
# bundle checks).
BUCKET_MASK_KINDS = ("all-valid", "right-padded", "holes", "single-frame")


def mask_patterns(seq_len: int) -> dict[str, np.ndarray]:
    """One fixed (deterministic) mask of each kind for ``seq_len`` frames, as int64."""
    patterns = {kind: np.zeros(seq_len, dtype=np.int64) for kind in MASK_KINDS}
    patterns["all-valid"][:] = 1
    keep = max(1, (2 * seq_len) // 3)
    patterns["right-padded"][:keep] = 1
    patterns["left-padded"][seq_len - keep :] = 1
    patterns["holes"][::3] = 1
    patterns["holes"][1::3] = 1 if seq_len > 2 else 0
    patterns["single-frame"][0] = 1
    return patterns


def summarise(mask: np.ndarray) -> str:
    """A short, readable description of a 1-D mask: kind, valid count and runs of 1s."""
    mask = np.asarray(mask).astype(bool)
    valid = int(mask.sum())
    runs = _runs(mask)
    text = " ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs[:4])
    if len(runs) > 4:
        text += f" ...(+{len(runs) - 4} runs)"
    return f"{classify(mask)} {valid}/{len(mask)} valid [{text or 'none'}]"


def classify(mask: np.ndarray) -> str:
    mask = np.asarray(mask).astype(bool)
    valid = int(mask.sum())
    if valid == 0:
        return "all-zero"
    if valid == len(mask):
        return "all-valid"
    if valid == 1:
        return "single-frame"
    runs = _runs(mask)
    if len(runs) == 1:
        start, end = runs[0]
        if start == 0:
            return "right-padded"
        if end == len(mask) - 1:
            return "left-padded"
    return "holes"


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))

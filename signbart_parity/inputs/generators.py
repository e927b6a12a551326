"""Input generators shared by the hypothesis strategies, ``verify`` and golden files.

Keypoint kinds (each (seq_len, K, 2) float32):
- ``uniform``: coordinates uniform in [0, 1];
- ``real-like``: a generated MediaPipe-like sequence after the published preprocessing
  (bounding-box-normalised groups, whole hands missing as zero blocks, values clipped from
  out-of-frame positions above 1);
- ``gaussian``: normal around 0.5 with sd 0.25 (leaves [0, 1] now and then);
- ``large``: normal with sd 100, far outside anything preprocessing produces;
- ``constant``: one value everywhere;
- ``repeated``: one random frame repeated over time.
Mask kinds are those of ``masks.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np

from signbart_parity.inputs.masks import MASK_KINDS, mask_patterns
from signbart_parity.inputs.samples import preprocess
from signbart_parity.inputs.synthetic import raw_sequence

KEYPOINT_KINDS = ("uniform", "real-like", "gaussian", "large", "constant", "repeated")
# The kinds whose coordinates always lie in [0, 1], the range preprocessing produces.
UNIT_RANGE_KEYPOINT_KINDS = ("uniform", "real-like", "repeated")


def keypoint_kinds_for(tolerance) -> tuple[str, ...]:
    """The keypoint kinds a precision is judged on (see ``Tolerance.keypoint_range``; the
    one range in use is [0, 1])."""
    return KEYPOINT_KINDS if tolerance.keypoint_range is None else UNIT_RANGE_KEYPOINT_KINDS


def make_keypoints(
    kind: str, rng: np.random.Generator, *, seq_len: int, num_keypoints: int
) -> np.ndarray:
    shape = (seq_len, num_keypoints, 2)
    if kind == "uniform":
        values = rng.random(shape)
    elif kind == "real-like":
        frames = int(rng.integers(seq_len, 2 * seq_len + 1))
        raw = raw_sequence(
            rng,
            label=int(rng.integers(10)),
            num_labels=10,
            num_frames=frames,
            num_keypoints=num_keypoints,
        )
        values, _ = preprocess(raw, seq_len)
    elif kind == "gaussian":
        values = rng.normal(0.5, 0.25, shape)
    elif kind == "large":
        values = rng.normal(0.0, 100.0, shape)
    elif kind == "constant":
        values = np.full(shape, rng.uniform(-1.0, 2.0))
    elif kind == "repeated":
        values = np.broadcast_to(rng.random((1, num_keypoints, 2)), shape)
    else:
        raise ValueError(f"unknown keypoint kind {kind!r}; choose one of {KEYPOINT_KINDS}")
    return np.ascontiguousarray(values, dtype=np.float32)


def make_mask(kind: str, rng: np.random.Generator, *, seq_len: int) -> np.ndarray:
    """A random mask of ``kind``; padded kinds always keep at least one valid frame."""
    mask = np.zeros(seq_len, dtype=np.int64)
    valid = int(rng.integers(1, seq_len + 1))
    if kind == "all-valid":
        mask[:] = 1
    elif kind == "right-padded":
        mask[:valid] = 1
    elif kind == "left-padded":
        mask[seq_len - valid :] = 1
    elif kind == "holes":
        mask[:] = rng.random(seq_len) < rng.uniform(0.2, 0.9)
        mask[int(rng.integers(seq_len))] = 1
    elif kind == "single-frame":
        mask[int(rng.integers(seq_len))] = 1
    elif kind != "all-zero":
        raise ValueError(f"unknown mask kind {kind!r}; choose one of {MASK_KINDS}")
    return mask


def batch_of(
    pairs: Iterable[tuple[str, str]], rng: np.random.Generator, *, seq_len: int, num_keypoints: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One example per (keypoint kind, mask kind) pair, drawn in order from ``rng``:
    (N, T, K, 2) keypoints, (N, T) masks, and a description of each."""
    keypoints, masks, descriptions = [], [], []
    for keypoint_kind, mask_kind in pairs:
        keypoints.append(
            make_keypoints(keypoint_kind, rng, seq_len=seq_len, num_keypoints=num_keypoints)
        )
        masks.append(make_mask(mask_kind, rng, seq_len=seq_len))
        descriptions.append(f"{keypoint_kind} keypoints, {mask_kind} mask")
    return np.stack(keypoints), np.stack(masks), descriptions


def example_batch(
    rng: np.random.Generator,
    *,
    count: int,
    seq_len: int,
    num_keypoints: int,
    keypoint_kinds: tuple[str, ...] = KEYPOINT_KINDS,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``count`` examples cycling through every (keypoint kind, mask kind) pair."""
    pairs = itertools.islice(itertools.cycle(itertools.product(keypoint_kinds, MASK_KINDS)), count)
    return batch_of(pairs, rng, seq_len=seq_len, num_keypoints=num_keypoints)


SEED_GUIDE_INPUT_NAMES = ("random keypoints, every frame valid",) + MASK_KINDS


def seed_guide_inputs(
    num_keypoints: int, seq_len: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The seed guide's check (uniform keypoints, all-ones mask) plus one input per mask kind,
    each mask the fixed pattern of ``masks.mask_patterns``."""
    rng = np.random.default_rng(seed)
    patterns = mask_patterns(seq_len)
    masks = np.stack([np.ones(seq_len, dtype=np.int64)] + [patterns[k] for k in MASK_KINDS])
    keypoints = rng.random((len(masks), seq_len, num_keypoints, 2), dtype=np.float32)
    return keypoints, masks

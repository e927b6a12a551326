"""Real-like raw keypoint sequences, shaped like upstream MediaPipe samples.

A sequence has a body, two hands and a face (90-keypoint layout; other layouts get the
same motion spread over their groups). Each class moves the hands along its own
direction and rhythm, so the classes are separable; hands go missing as whole zero
blocks and may drift out of frame (coordinates above 1), as in the real data.
"""

from __future__ import annotations

import numpy as np

from signbart_parity.inputs.samples import GROUPS_BY_KEYPOINT_COUNT, preprocess


def _group_ranges(num_keypoints: int) -> tuple[tuple[int, int], ...]:
    return GROUPS_BY_KEYPOINT_COUNT.get(num_keypoints, ((0, num_keypoints - 1),))


def raw_sequence(
    rng: np.random.Generator,
    *,
    label: int,
    num_labels: int,
    num_frames: int,
    num_keypoints: int = 90,
    missing_hand_rate: float = 0.3,
) -> np.ndarray:
    """One raw sequence (num_frames, num_keypoints, 3) in frame coordinates.

    Preprocessing normalises each group to its own box, which erases where a hand is;
    so the class lives in what survives it: each class has its own hand shape, which
    rotates at its own rhythm, and the arm points of the pose group follow the hands.
    """
    class_rng = np.random.default_rng(1000 + label)
    t = np.linspace(0.0, 1.0, num_frames)[:, None]
    rhythm = 1 + label % 3
    turn = (0.5 + label / num_labels) * np.sin(2 * np.pi * rhythm * t + rng.uniform(0, 0.3))
    frames = np.zeros((num_frames, num_keypoints, 3))
    hand_path = 0.15 * np.sin(2 * np.pi * rhythm * t) * np.array([1.0, 0.5])  # (T, 2)
    for index, (first, last) in enumerate(_group_ranges(num_keypoints)):
        size = last - first + 1
        centre = np.array([0.35 + 0.3 * rng.random(), 0.35 + 0.3 * rng.random()])
        is_hand = index in (1, 2)
        template = class_rng.normal(scale=0.05, size=(size, 2)) if is_hand else None
        shape = rng.normal(scale=0.01 if is_hand else 0.12, size=(size, 2))
        if is_hand:
            shape = shape + _rotate(template, turn)  # (T, size, 2)
            path = centre + hand_path
        else:
            shape = np.broadcast_to(shape, (num_frames, size, 2)).copy()
            path = np.broadcast_to(centre, (num_frames, 2))
            if index == 0:  # the pose's arm points (the last third) follow the hands
                arms = slice(size - size // 3, size)
                shape[:, arms] += 0.8 * hand_path[:, None, :] * (1 + label / num_labels)
        xy = path[:, None, :] + shape + rng.normal(scale=0.004, size=(num_frames, size, 2))
        frames[:, first : last + 1, :2] = xy
        frames[:, first : last + 1, 2] = rng.random((num_frames, size))
        if is_hand and rng.random() < missing_hand_rate:
            gone = rng.random(num_frames) < rng.uniform(0.3, 1.0)
            frames[gone, first : last + 1] = 0.0
    return frames


def _rotate(points: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate (P, 2) points by each of (T, 1) angles -> (T, P, 2)."""
    cos, sin = np.cos(angles)[:, :, None], np.sin(angles)[:, :, None]
    x, y = points[None, :, 0:1], points[None, :, 1:2]
    return np.concatenate([x * cos - y * sin, x * sin + y * cos], axis=-1)


def real_like_batch(
    rng: np.random.Generator,
    *,
    count: int,
    seq_len: int,
    num_keypoints: int,
    num_labels: int,
    min_frames: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Preprocessed (keypoints (N, T, K, 2) float32, mask (N, T) int64, labels (N,))."""
    keypoints = np.zeros((count, seq_len, num_keypoints, 2), dtype=np.float32)
    masks = np.zeros((count, seq_len), dtype=np.int64)
    labels = rng.integers(0, num_labels, size=count)
    for row in range(count):
        frames = int(rng.integers(min_frames, 2 * seq_len + 1))
        raw = raw_sequence(
            rng,
            label=int(labels[row]),
            num_labels=num_labels,
            num_frames=frames,
            num_keypoints=num_keypoints,
        )
        keypoints[row], masks[row] = preprocess(raw, seq_len)
    return keypoints, masks, labels

"""Raw clips where app re-implementations of the published preprocessing go wrong.

Each clip is what an app receives: (frames, K, 3) float64 landmarks (x, y and a third
coordinate) in the published sample layout, before any preprocessing. They are seeded and
deterministic, built on the MediaPipe-like motion of ``synthetic.raw_sequence``, and cover:
a whole group missing (zeros), a group collapsed to one point (w = h = 0), a group touching
the frame edge (its box clamped), values outside [0, 1], lengths one below, at and one above
every bucket, a single frame, a clip longer than the largest bucket, and (when one exists)
a length where ``linspace`` in float64 truncates differently from exact integer arithmetic.
Layout: docs/preprocessing.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from signbart_parity.inputs.samples import keypoint_groups, resample_indices
from signbart_parity.inputs.synthetic import raw_sequence

RAW_CLIP_SEED = 20261201
HAND_SIZE = 21  # MediaPipe hand landmarks: the block zeroed when a layout has no hand group


@dataclass(frozen=True)
class RawClip:
    """One raw clip: a unique name, what it tests, and its (frames, K, 3) float64 landmarks."""

    name: str
    description: str
    keypoints: np.ndarray


def raw_clips(
    *, seq_lens: Sequence[int], num_keypoints: int, seed: int = RAW_CLIP_SEED
) -> list[RawClip]:
    """The fixed generated clips for a model's buckets and keypoint layout, in a fixed order."""
    rng = np.random.default_rng(seed)
    buckets = sorted(set(seq_lens))
    edge_frames = max(2, buckets[0])

    def motion(frames: int) -> np.ndarray:
        label = int(rng.integers(10))
        return raw_sequence(
            rng,
            label=label,
            num_labels=10,
            num_frames=frames,
            num_keypoints=num_keypoints,
            missing_hand_rate=0.0,
        )

    clips = [
        _missing_group(motion(edge_frames), num_keypoints),
        _collapsed_group(motion(edge_frames), num_keypoints),
        _edge_touching(motion(edge_frames), num_keypoints),
        _out_of_range(motion(edge_frames), rng),
    ]
    for frames in clip_lengths(buckets):
        clips.append(
            RawClip(f"frames-{frames}", _length_description(frames, buckets), motion(frames))
        )
    for trap in linspace_trap_lengths(buckets[-1]):
        clips.append(
            RawClip(
                f"linspace-trap-{trap}",
                f"{trap} frames: at seq_len {buckets[-1]} float64 linspace truncation differs "
                "from exact integer arithmetic or from an unpinned last index",
                motion(trap),
            )
        )
    return clips


def clip_lengths(buckets: Sequence[int]) -> list[int]:
    """One below, at and one above each bucket, a single frame, and twice the largest + 3."""
    lengths = {1, 2 * max(buckets) + 3}
    for bucket in buckets:
        lengths |= {bucket - 1, bucket, bucket + 1}
    return sorted(length for length in lengths if length >= 1)


def _length_description(frames: int, buckets: Sequence[int]) -> str:
    if frames == 1:
        return "a single frame"
    if frames > max(buckets):
        return f"{frames} frames: longer than every bucket, resampled to {max(buckets)}"
    return f"{frames} frames: padded into the smallest bucket that holds it"


def linspace_trap_lengths(seq_len: int, search: int = 20) -> list[int]:
    """The shortest clips longer than seq_len (up to ``search`` times it) whose published
    frame indices differ from exact ``i * (frames - 1) // (seq_len - 1)``, and from
    truncating ``(seq_len - 1) * step`` for the last index: where re-implementations part
    ways. Either may not exist for a given seq_len."""
    exact_trap = unpinned_trap = None
    for frames in range(seq_len + 1, search * seq_len if seq_len > 1 else 0):
        published = resample_indices(frames, seq_len)
        exact = np.arange(seq_len) * (frames - 1) // (seq_len - 1)
        if exact_trap is None and (published != exact).any():
            exact_trap = frames
        if unpinned_trap is None and int((seq_len - 1) * ((frames - 1) / (seq_len - 1))) != (
            frames - 1
        ):
            unpinned_trap = frames
        if exact_trap and unpinned_trap:
            break
    return sorted({trap for trap in (exact_trap, unpinned_trap) if trap is not None})


def _hand_block(num_keypoints: int) -> tuple[int, int]:
    """The first hand group of the layout, else the first HAND_SIZE keypoints."""
    groups = keypoint_groups(num_keypoints)
    if len(groups) > 1:
        return groups[1]
    return 0, min(HAND_SIZE, num_keypoints) - 1


def _missing_group(raw: np.ndarray, num_keypoints: int) -> RawClip:
    first, last = _hand_block(num_keypoints)
    raw[:, first : last + 1] = 0.0
    others = keypoint_groups(num_keypoints)
    if len(others) > 2:  # the other hand gone in every other frame
        second, end = others[2]
        raw[::2, second : end + 1] = 0.0
    return RawClip(
        "hand-missing",
        f"keypoints {first}-{last} all zero in every frame (a hand MediaPipe did not see)",
        raw,
    )


def _collapsed_group(raw: np.ndarray, num_keypoints: int) -> RawClip:
    """The last group on one point in even frames (no box: left unchanged), on a horizontal
    line in odd frames (h = 0: the y box comes from the widening alone)."""
    first, last = keypoint_groups(num_keypoints)[-1]
    group = raw[:, first : last + 1, :2]
    group[0::2] = group[0::2, :1]
    group[1::2, :, 1] = group[1::2, :1, 1]
    return RawClip(
        "group-collapsed",
        f"keypoints {first}-{last} on one point (w = h = 0) or one line (h = 0)",
        raw,
    )


def _edge_touching(raw: np.ndarray, num_keypoints: int) -> RawClip:
    """The first group stretched to both frame edges, so its widened box is clamped."""
    first, last = keypoint_groups(num_keypoints)[0]
    group = raw[:, first : last + 1, :2]
    low, high = group.min(axis=1, keepdims=True), group.max(axis=1, keepdims=True)
    spread = np.where(high - low > 0, high - low, 1.0)
    group[:] = (group - low) / spread * np.array([1.0, 0.6]) + np.array([0.0, 0.4])
    return RawClip(
        "edge-touching",
        f"keypoints {first}-{last} span x 0..1 and touch y = 1: the square box is clamped",
        raw,
    )


def _out_of_range(raw: np.ndarray, rng: np.random.Generator) -> RawClip:
    """About a tenth of the coordinates pushed below 0 or above 1, and frame 0 all beyond 1."""
    pushed = rng.random(raw.shape[:2] + (2,)) < 0.1
    offsets = rng.choice([-0.4, 0.5], size=pushed.shape)
    raw[..., :2] += np.where(pushed, offsets, 0.0)
    raw[0, :, :2] += 1.2
    return RawClip(
        "out-of-range",
        "coordinates below 0 and above 1 (frame-relative landmarks out of frame)",
        raw,
    )

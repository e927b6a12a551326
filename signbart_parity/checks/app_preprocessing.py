"""Does an app prepare keypoints as the published preprocessing does?

A device test runs its own preprocessing on the raw clips of the preprocessing vectors
(checks/vectors.py) and writes what it produced (docs/preprocessing.md). This module finds
the first clip, frame, keypoint and coordinate where that differs from the stored tensors,
and the step that most likely differs: first the bucket choice, then the shapes, then by
rerunning our preprocessing with one step swapped for a common wrong variant (the step whose
variant reproduces the app's output is named), else by targeted diagnostics on the first
differing frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from signbart_parity.checks.vectors import (
    APP_OUTPUT_FORMAT,
    TOLERANCE,
    Expected,
    VectorClip,
    Vectors,
    load_document,
)
from signbart_parity.errors import DataError
from signbart_parity.inputs import samples as steps

BUCKET_CHOICE = "bucket choice"
COORDINATES = ("x", "y")


@dataclass(frozen=True)
class AppClip:
    """What the app made of one raw clip: its chosen signature and the model inputs."""

    name: str
    signature: str
    keypoints: np.ndarray  # float64, (T, K, 2) when well formed
    attention_mask: np.ndarray  # int64, (T,)


@dataclass(frozen=True)
class ClipDifference:
    """One clip the app prepared differently: where first, and the step most likely at fault."""

    clip: VectorClip
    where: str
    step: str
    reason: str

    def line(self) -> str:
        return f"clip '{self.clip.name}' ({self.clip.description}): {self.where}"


# ---------------------------------------------------------------- the app's output


def load_app_output(path: str | Path, vectors: Vectors) -> dict[str, AppClip]:
    """The app's output for every clip of ``vectors``, by clip name.

    Raises:
        DataError: missing, not JSON, not the app-output form, or a clip missing or malformed.
    """
    path = Path(path)
    fix = "write it as docs/preprocessing.md describes"
    document = load_document(path, DataError, "app output", APP_OUTPUT_FORMAT, fix)
    entries = document.get("clips")
    if not isinstance(entries, list):
        raise DataError(f"{path}: app output has no 'clips' list; {fix}.")
    clips = {}
    for index, entry in enumerate(entries):
        clip = _app_clip(entry, index, path)
        if clip.name in clips:
            raise DataError(f"{path}: clip '{clip.name}' appears twice; write each clip once.")
        clips[clip.name] = clip
    for clip in vectors.clips:
        if clip.name not in clips:
            raise DataError(
                f"{path}: no output for clip '{clip.name}' of {vectors.path}; "
                "the device test must write every clip."
            )
    unknown = sorted(set(clips) - {clip.name for clip in vectors.clips})
    if unknown:
        raise DataError(
            f"{path}: clip '{unknown[0]}' is not in {vectors.path}; check both come from the "
            "same golden."
        )
    return clips


def _app_clip(entry, index: int, path: Path) -> AppClip:
    where = f"{path}: clip {index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise DataError(f"{where} is not an object with a 'name'; write each clip as documented.")
    where = f"{path}: clip '{entry['name']}'"
    if not isinstance(entry.get("signature"), str):
        raise DataError(f"{where} has no 'signature' string (the seq_<T> the app chose).")
    try:
        keypoints = np.asarray(entry["keypoints"], dtype=np.float64)
        mask = np.asarray(entry["attention_mask"], dtype=np.float64)
    except KeyError as exc:
        raise DataError(f"{where} has no {exc.args[0]!r}; write it as documented.") from None
    except (TypeError, ValueError):
        raise DataError(
            f"{where}: 'keypoints' and 'attention_mask' must be regular nested lists of numbers."
        ) from None
    if keypoints.ndim != 3 or mask.ndim != 1 or (mask != np.round(mask)).any():
        raise DataError(
            f"{where}: 'keypoints' must be [frame][keypoint][coordinate] and 'attention_mask' "
            "a list of integers."
        )
    return AppClip(entry["name"], entry["signature"], keypoints, mask.astype(np.int64))


# ---------------------------------------------------------------- the comparison


def check_app_output(vectors: Vectors, app: dict[str, AppClip]) -> list[ClipDifference]:
    """Every clip the app prepared differently, in the vectors' order (empty: it matches)."""
    found = (_difference(clip, app[clip.name], vectors) for clip in vectors.clips)
    return [difference for difference in found if difference is not None]


def _difference(clip: VectorClip, app: AppClip, vectors: Vectors) -> ClipDifference | None:
    if app.signature != clip.signature:
        return ClipDifference(
            clip, f"app ran it in {app.signature}", BUCKET_CHOICE, _bucket_reason(clip, vectors)
        )
    expected = clip.expected[clip.signature]
    shape = _shape_difference(clip, expected, app)
    if shape is not None:
        return shape
    first = _first_difference(expected, app)
    if first is None:
        return None
    step, reason = _attribute(clip, app, first, vectors.num_keypoints)
    return ClipDifference(clip, first.text, step, reason)


def _bucket_reason(clip: VectorClip, vectors: Vectors) -> str:
    buckets = ", ".join(f"seq_{bucket}" for bucket in vectors.buckets)
    if clip.frames > max(vectors.buckets):
        rule = "longer than every bucket: resample it to the largest"
    else:
        rule = "run it in the smallest bucket with at least that many frames"
    return f"it has {clip.frames} frames: {rule}, {clip.signature} (buckets {buckets})"


def _shape_difference(clip: VectorClip, expected: Expected, app: AppClip) -> ClipDifference | None:
    want, got = expected.keypoints.shape, app.keypoints.shape
    if got[1:] != want[1:]:
        where = f"app gave {got[1]} keypoints x {got[2]} coordinates per frame"
        reason = (
            f"the model takes {want[1]} keypoints (max(joint_idx) + 1, the first of the raw "
            "layout; the model selects joint_idx itself) with x and y only"
        )
        return ClipDifference(clip, where, "selection", reason)
    if got[0] != want[0] or len(app.attention_mask) != want[0]:
        where = f"app gave {got[0]} frames and a mask of {len(app.attention_mask)}"
        reason = f"{clip.signature} takes exactly {want[0]}: pad the clip with zero frames, mask 0"
        return ClipDifference(clip, where, "padding", reason)
    return None


@dataclass(frozen=True)
class _First:
    frame: int
    keypoint: int | None  # None: the mask differs at this frame
    coordinate: int | None
    text: str


def _first_difference(expected: Expected, app: AppClip) -> _First | None:
    """The first frame where the mask or a value differs, in frame, keypoint, x-y order."""
    mask_frames = np.flatnonzero(app.attention_mask != expected.attention_mask)
    far = ~(np.abs(app.keypoints - expected.keypoints) <= TOLERANCE)  # NaN counts as far
    value_frames = np.flatnonzero(far.any(axis=(1, 2)))
    candidates = [int(frames[0]) for frames in (mask_frames, value_frames) if len(frames)]
    if not candidates:
        return None
    frame = min(candidates)
    if len(mask_frames) and mask_frames[0] == frame:
        text = (
            f"frame {frame}: mask {app.attention_mask[frame]}, "
            f"expected {expected.attention_mask[frame]}"
        )
        return _First(frame, None, None, text)
    keypoint, coordinate = (int(i) for i in np.argwhere(far[frame])[0])
    text = (
        f"frame {frame}, keypoint {keypoint}, coordinate {COORDINATES[coordinate]}: "
        f"app {app.keypoints[frame, keypoint, coordinate]:.9g}, "
        f"expected {float(expected.keypoints[frame, keypoint, coordinate]):.9g}"
    )
    return _First(frame, keypoint, coordinate, text)


def _reproduces(prepared: tuple[np.ndarray, np.ndarray], app: AppClip) -> bool:
    frames, mask = prepared
    return (
        frames.shape == app.keypoints.shape
        and np.array_equal(mask, app.attention_mask)
        and bool((np.abs(frames - app.keypoints) <= TOLERANCE).all())
    )


# ---------------------------------------------------------------- attribution


def _attribute(clip: VectorClip, app: AppClip, first: _First, num_keypoints: int):
    """(step, reason): the step whose wrong variant reproduces the app, else a diagnosis."""
    seq_len = len(app.attention_mask)
    matches = [
        (step, variant)
        for step, variant, preprocessing in wrong_variants(clip.raw, num_keypoints)
        if _reproduces(preprocessing(clip.raw, seq_len, num_keypoints), app)
    ]
    if not matches:
        return _diagnose(clip, app, first, num_keypoints)
    step = matches[0][0]
    named = " or ".join(variant for found, variant in matches if found == step)
    reason = f"our preprocessing with {named} reproduces the app's output"
    others = sorted({found for found, _ in matches} - {step})
    if others:
        reason += f"; so does a wrong {' or '.join(others)} step"
    return step, reason


def _diagnose(clip: VectorClip, app: AppClip, first: _First, num_keypoints: int):
    """No single wrong variant reproduces the app: judge from the first differing frame."""
    expected = clip.expected[clip.signature]
    valid = int(expected.attention_mask.sum())
    if first.keypoint is None or first.frame >= valid:
        return "padding", f"frames {valid} on must be zeros with mask 0, the clip's frames mask 1"
    per_frame = steps.select_keypoints(
        steps.normalise_groups(steps.clip_to_unit(steps.keep_xy(clip.raw))), num_keypoints
    )
    app_frame = app.keypoints[first.frame]
    same = [j for j, frame in enumerate(per_frame) if _close(frame, app_frame)]
    wanted = expected.source_frames[first.frame]
    if same and wanted not in same:
        return "resampling", (
            f"app frame {first.frame} is raw frame {same[0]} prepared correctly; the published "
            f"resampling keeps raw frame {wanted} there"
        )
    if _is_keypoint_permutation(app_frame, expected.keypoints[first.frame]):
        return "selection", "the app's frame holds the right keypoints in another order"
    group = _group_of(first.keypoint, clip.raw.shape[1])
    return "normalisation", (
        f"no single wrong step reproduces the app's output; the first difference is inside "
        f"keypoint group {group[0]}-{group[1]}, which the app normalised differently"
    )


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool((np.abs(a - b) <= TOLERANCE).all())


def _is_keypoint_permutation(app_frame: np.ndarray, expected_frame: np.ndarray) -> bool:
    order = np.lexsort(app_frame.T[::-1])
    wanted = np.lexsort(expected_frame.T[::-1])
    return _close(app_frame[order], expected_frame[wanted].astype(np.float64))


def _group_of(keypoint: int, layout: int) -> tuple[int, int]:
    return next(g for g in steps.keypoint_groups(layout) if g[0] <= keypoint <= g[1])


# ---------------------------------------------------------------- the wrong variants

Variant = tuple[str, str, steps.Preprocessing]


def wrong_variants(raw: np.ndarray, num_keypoints: int) -> Iterator[Variant]:
    """(step, what is wrong, our preprocessing with that one step wrong), in pipeline order."""
    yield from _selection_variants(raw, num_keypoints)
    yield from _clipping_variants()
    yield from _resampling_variants()
    yield from _normalisation_variants()
    yield from _padding_variants()


def _published(**changes: Callable) -> steps.Preprocessing:
    return replace(steps.PUBLISHED, **changes)


def _selection_variants(raw: np.ndarray, num_keypoints: int) -> Iterator[Variant]:
    def coordinates(*which: int):
        return lambda keypoints: np.asarray(keypoints, dtype=np.float64)[..., list(which)]

    if raw.shape[2] >= 3:
        yield (
            "selection",
            "x and the third coordinate kept instead of x and y",
            _published(keep_xy=coordinates(0, 2)),
        )
    yield "selection", "x and y swapped", _published(keep_xy=coordinates(1, 0))
    groups = steps.keypoint_groups(raw.shape[1])
    if len(groups) >= 3 and groups[1][1] - groups[1][0] == groups[2][1] - groups[2][0]:
        order = np.arange(raw.shape[1])
        left, right = (np.arange(first, last + 1) for first, last in groups[1:3])
        order[left], order[right] = right, left
        yield (
            "selection",
            "left and right hands swapped",
            _published(keep_xy=lambda keypoints: steps.keep_xy(keypoints)[:, order]),
        )
    if raw.shape[1] > num_keypoints:
        yield (
            "selection",
            "the model's keypoints cut before normalising",
            _published(normalise=lambda xy: steps.normalise_groups(xy[:, :num_keypoints])),
        )


def _clipping_variants() -> Iterator[Variant]:
    yield "clipping", "no clipping to [0, 1]", _published(clip=lambda xy: xy)
    yield (
        "clipping",
        "clipping after normalising instead of before",
        _published(
            clip=lambda xy: xy,
            normalise=lambda xy: steps.clip_to_unit(steps.normalise_groups(xy)),
        ),
    )


def _index_rule(rule: Callable[[int, int], np.ndarray]):
    return lambda xy, seq_len: steps.resample(xy, seq_len, indices=rule)


def _linspace(frames: int, seq_len: int) -> np.ndarray:
    return np.linspace(0, frames - 1, seq_len)


def _unpinned(frames: int, seq_len: int) -> np.ndarray:
    step = (frames - 1) / (seq_len - 1) if seq_len > 1 else 0.0
    return (np.arange(seq_len) * step).astype(int)


RESAMPLING_RULES: dict[str, Callable[[int, int], np.ndarray]] = {
    "linspace rounded half up instead of truncated": lambda f, n: np.floor(
        _linspace(f, n) + 0.5
    ).astype(int),
    "linspace rounded half to even instead of truncated": lambda f, n: np.rint(
        _linspace(f, n)
    ).astype(int),
    "exact integer i * (frames - 1) // (seq_len - 1) instead of float64 linspace": lambda f, n: (
        np.arange(n) * (f - 1) // max(n - 1, 1)
    ),
    "the last index not pinned to frames - 1": _unpinned,
    "stride i * frames // seq_len instead of linspace": lambda f, n: np.arange(n) * f // n,
    "the first seq_len frames kept instead of resampling": lambda f, n: np.arange(n),
    "the last seq_len frames kept instead of resampling": lambda f, n: np.arange(f - n, f),
}


def _resampling_variants() -> Iterator[Variant]:
    for name, rule in RESAMPLING_RULES.items():
        yield "resampling", name, _published(resample=_index_rule(rule))


def _normalisation_variants() -> Iterator[Variant]:
    def box(margins=steps.square_margins, clamp: bool = True):
        def normalise(group: np.ndarray) -> np.ndarray:
            return steps.scale_into_box(group, *steps.group_box(group, margins, clamp))

        return lambda xy: steps.normalise_groups(xy, normalise)

    def not_square(w, h):
        return steps.BOX_MARGIN * w, steps.BOX_MARGIN * h

    def no_margin(w, h):
        return np.where(w > h, 0.0, (h - w) / 2), np.where(w > h, (w - h) / 2, 0.0)

    def min_max(w, h):
        return np.zeros_like(w), np.zeros_like(h)

    def degenerate_to_zero(xy):
        def normalise(group):
            low, high = steps.group_box(group)
            return np.where((high - low)[:, None, :] > 0, steps.normalise_group(group), 0.0)

        return steps.normalise_groups(xy, normalise)

    def one_box(xy):
        return steps.normalise_groups(xy, groups=((0, xy.shape[1] - 1),))

    yield "normalisation", "a box not widened to a square", _published(normalise=box(not_square))
    yield "normalisation", "no 5% margin", _published(normalise=box(no_margin))
    yield (
        "normalisation",
        "a plain min-max box (no square, no margin)",
        _published(normalise=box(min_max)),
    )
    yield "normalisation", "the box not clamped to [0, 1]", _published(normalise=box(clamp=False))
    yield (
        "normalisation",
        "one box for all keypoints instead of one per group",
        _published(normalise=one_box),
    )
    yield (
        "normalisation",
        "a group without a box set to 0 instead of kept",
        _published(normalise=degenerate_to_zero),
    )


def _pad_with_last(mask_value: int):
    def pad(xy: np.ndarray, seq_len: int):
        frames, mask = steps.pad(xy, seq_len)
        frames[len(xy) :] = frames[len(xy) - 1]
        mask[len(xy) :] = mask_value
        return frames, mask

    return pad


def _mask_all_ones(xy: np.ndarray, seq_len: int):
    frames, mask = steps.pad(xy, seq_len)
    return frames, np.ones_like(mask)


def _pad_in_front(xy: np.ndarray, seq_len: int):
    frames, mask = steps.pad(xy, seq_len)
    shift = seq_len - len(xy)
    return np.roll(frames, shift, axis=0), np.roll(mask, shift)


def _padding_variants() -> Iterator[Variant]:
    yield "padding", "padding with the last frame (mask 0)", _published(pad=_pad_with_last(0))
    yield "padding", "padding with the last frame, mask 1", _published(pad=_pad_with_last(1))
    yield "padding", "mask 1 on the zero padding", _published(pad=_mask_all_ones)
    yield "padding", "padding in front of the clip", _published(pad=_pad_in_front)

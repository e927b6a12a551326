"""Real keypoint samples: safe loading of upstream ``.pkl`` files and the published
inference preprocessing (resample/pad to seq_len, per-group bounding-box normalisation)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signbart_parity.errors import DataError
from signbart_parity.inputs.pickles import ForbiddenGlobal, load_arrays_pickle
from signbart_parity.limits import MAX_LABEL_CHARS, LimitExceeded

# Keypoint groups per layout, as (first, last) inclusive index ranges.
GROUPS_BY_KEYPOINT_COUNT = {
    # MLR511 Arabic: upper-body pose, left hand, right hand, face.
    90: ((0, 22), (23, 43), (44, 64), (65, 89)),
    # LSA-64 / WLASL: pose 33, left hand, right hand.
    75: ((0, 32), (33, 53), (54, 74)),
}
BOX_MARGIN = 0.05


@dataclass(frozen=True)
class Sample:
    """One upstream sample: raw keypoints (T, K, C) and its class name (may be empty)."""

    path: Path
    keypoints: np.ndarray
    label: str


def load_sample(path: str | Path) -> Sample:
    """Read an upstream ``.pkl`` sample, admitting only numpy arrays and builtins.

    Raises:
        DataError: missing, unreadable, unsafe or malformed file.
    """
    path = Path(path)
    loaded = _read_pickle(path)
    if not isinstance(loaded, dict) or "keypoints" not in loaded:
        raise DataError(f"{path}: expected a dict with a 'keypoints' array.")
    keypoints = loaded["keypoints"]
    if not isinstance(keypoints, np.ndarray) or keypoints.ndim != 3 or keypoints.shape[2] < 2:
        raise DataError(f"{path}: 'keypoints' must be an array (frames, keypoints, >=2).")
    if keypoints.dtype.kind not in "fiu":
        raise DataError(
            f"{path}: 'keypoints' holds {keypoints.dtype} values; save the coordinates as "
            "a float array."
        )
    if keypoints.shape[0] == 0 or not np.isfinite(keypoints[..., :2]).all():
        raise DataError(f"{path}: 'keypoints' is empty or holds NaN/inf values.")
    return Sample(path=path, keypoints=keypoints, label=_label(path, loaded.get("class", "")))


def _read_pickle(path: Path) -> object:
    try:
        return load_arrays_pickle(path)
    except FileNotFoundError:
        raise DataError(f"{path}: sample file not found.") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DataError(f"{path}: cannot read the sample file ({reason}).") from None
    except ForbiddenGlobal as exc:
        raise DataError(f"{path}: refused to load ({exc}); samples may hold only arrays.") from None
    except LimitExceeded as exc:
        raise DataError(f"{path}: refused: the sample {exc}.") from None
    except Exception:
        raise DataError(f"{path}: not a readable sample pickle (truncated or corrupt).") from None


def _label(path: Path, value: object) -> str:
    """The sample's class name: a short string (or an integer class index)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if not isinstance(value, str) or len(value) > MAX_LABEL_CHARS:
        raise DataError(
            f"{path}: 'class' must be a class name of at most {MAX_LABEL_CHARS} characters; "
            "re-save the sample with its class as a string."
        )
    return value


# ---------------------------------------------------------------- preprocessing steps
# The published inference preprocessing, one small function per step, so that a diagnosis
# (checks/app_preprocessing.py) can swap one step for a wrong variant and rerun the rest.
# docs/preprocessing.md states each step exactly as the tests assert it.


def keep_xy(keypoints: np.ndarray) -> np.ndarray:
    """Selection, first half: x and y of every keypoint, as float64 (T, K, 2)."""
    return np.asarray(keypoints, dtype=np.float64)[..., :2]


def clip_to_unit(xy: np.ndarray) -> np.ndarray:
    return np.clip(xy, 0.0, 1.0)


def resample_indices(frames: int, seq_len: int) -> np.ndarray:
    """The frames a clip longer than seq_len keeps: ``linspace(0, frames - 1, seq_len)``
    in float64, truncated toward zero (numpy pins the last one to ``frames - 1``)."""
    return np.linspace(0, frames - 1, seq_len).astype(int)


def resample(xy: np.ndarray, seq_len: int, indices=resample_indices) -> np.ndarray:
    """A clip longer than seq_len down to seq_len frames; a shorter one unchanged."""
    return xy[indices(len(xy), seq_len)] if len(xy) > seq_len else xy


def keypoint_groups(num_keypoints: int) -> tuple[tuple[int, int], ...]:
    """The normalisation groups of a layout; an unknown layout is one group."""
    return GROUPS_BY_KEYPOINT_COUNT.get(num_keypoints, ((0, num_keypoints - 1),))


def square_margins(w: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame (dx, dy): a 5% margin of the longer side, the shorter side widened to it."""
    wide = w > h
    dx = np.where(wide, BOX_MARGIN * w, BOX_MARGIN * h + (h - w) / 2)
    dy = np.where(wide, BOX_MARGIN * w + (w - h) / 2, BOX_MARGIN * h)
    return dx, dy


def group_box(group: np.ndarray, margins=square_margins, clamp: bool = True):
    """Per frame, the (T, 2) low and high corners of a (T, P, 2) group's box."""
    low, high = group.min(axis=1), group.max(axis=1)  # (T, 2)
    w, h = (high - low)[:, 0], (high - low)[:, 1]
    margin = np.stack(margins(w, h), axis=1)
    box_low, box_high = low - margin, high + margin
    if clamp:
        box_low, box_high = np.clip(box_low, 0.0, 1.0), np.clip(box_high, 0.0, 1.0)
    return box_low, box_high


def scale_into_box(group: np.ndarray, box_low: np.ndarray, box_high: np.ndarray) -> np.ndarray:
    """Map each axis onto its box; an axis whose box has no extent is left unchanged."""
    extent = box_high - box_low
    safe = np.where(extent > 0, extent, 1.0)
    scaled = (group - box_low[:, None, :]) / safe[:, None, :]
    return np.where(extent[:, None, :] > 0, scaled, group)


def normalise_group(group: np.ndarray) -> np.ndarray:
    """Per frame: map the group into its bounding box widened to a square with a 5% margin."""
    return scale_into_box(group, *group_box(group))


def normalise_groups(xy: np.ndarray, normalise=normalise_group, groups=None) -> np.ndarray:
    """Each keypoint group of the layout (``keypoint_groups``) normalised on its own."""
    out = np.array(xy, dtype=np.float64)
    for first, last in groups or keypoint_groups(xy.shape[1]):
        out[:, first : last + 1] = normalise(out[:, first : last + 1])
    return out


def select_keypoints(xy: np.ndarray, num_keypoints: int | None) -> np.ndarray:
    """Selection, second half: the model's first ``num_keypoints`` (``max(joint_idx) + 1``),
    cut after normalising, since the groups are those of the sample's own layout."""
    return xy if num_keypoints is None else xy[:, :num_keypoints]


def pad(xy: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero frames after the clip up to seq_len: ((seq_len, K, 2) float32, mask int64)."""
    valid = len(xy)
    frames = np.zeros((seq_len, xy.shape[1], 2), dtype=np.float32)
    frames[:valid] = xy
    mask = np.zeros(seq_len, dtype=np.int64)
    mask[:valid] = 1
    return frames, mask


@dataclass(frozen=True)
class Preprocessing:
    """The published preprocessing as a sequence of replaceable steps, in this order."""

    keep_xy: Callable[[np.ndarray], np.ndarray] = keep_xy
    clip: Callable[[np.ndarray], np.ndarray] = clip_to_unit
    resample: Callable[[np.ndarray, int], np.ndarray] = resample
    normalise: Callable[[np.ndarray], np.ndarray] = normalise_groups
    select: Callable[[np.ndarray, int | None], np.ndarray] = select_keypoints
    pad: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]] = pad

    def __call__(
        self, keypoints: np.ndarray, seq_len: int, num_keypoints: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        xy = self.resample(self.clip(self.keep_xy(keypoints)), seq_len)
        return self.pad(self.select(self.normalise(xy), num_keypoints), seq_len)


PUBLISHED = Preprocessing()


def preprocess(keypoints: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Published inference preprocessing: (T, K, C) raw -> ((seq_len, K, 2) float32, mask int64)."""
    return PUBLISHED(keypoints, seq_len)


def prepare_sample(
    sample: Sample, *, seq_len: int, num_keypoints: int
) -> tuple[np.ndarray, np.ndarray]:
    """A sample as the model takes it: preprocessed on its own keypoint layout (the groups
    depend on it), then cut to the model's ``num_keypoints`` (``max(joint_idx) + 1``).

    Raises:
        DataError: the sample has fewer keypoints per frame than the model needs.
    """
    found = sample.keypoints.shape[1]
    if found < num_keypoints:
        raise DataError(
            f"{sample.path}: sample has {found} keypoints per frame but the model needs "
            f"{num_keypoints}; pass samples of this model's layout."
        )
    return PUBLISHED(sample.keypoints, seq_len, num_keypoints)


def sample_paths(paths) -> list[Path]:
    """Files as given, folders as their ``*.pkl`` files (recursive, sorted).

    Raises:
        DataError: a path does not exist, or a folder holds no ``.pkl`` file.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            pickles = sorted(path.rglob("*.pkl"))
            if not pickles:
                raise DataError(f"{path}: folder holds no .pkl samples; pass a sample folder.")
            found.extend(pickles)
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{path}: sample path not found; pass a .pkl file or a folder.")
    return found


def preprocessed_samples(
    paths, *, seq_len: int, num_keypoints: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Real samples after the published preprocessing: (N, T, K, 2), (N, T), descriptions.

    Raises:
        DataError: a path is missing, a sample unreadable, or it has too few keypoints.
    """
    keypoints, masks, descriptions = [], [], []
    for path in sample_paths(paths):
        sample = load_sample(path)
        frames, mask = prepare_sample(sample, seq_len=seq_len, num_keypoints=num_keypoints)
        keypoints.append(frames)
        masks.append(mask)
        label = f", class {sample.label}" if sample.label else ""
        descriptions.append(f"real sample {path.name} ({len(sample.keypoints)} frames{label})")
    if not keypoints:
        empty = np.zeros((0, seq_len, num_keypoints, 2), np.float32)
        return empty, np.zeros((0, seq_len), np.int64), []
    return np.stack(keypoints), np.stack(masks), descriptions

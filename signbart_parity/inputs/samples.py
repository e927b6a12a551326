"""Real keypoint samples: safe loading of upstream ``.pkl`` files and the published
inference preprocessing (resample/pad to seq_len, per-group bounding-box normalisation)."""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signbart_parity.errors import DataError

# Keypoint groups per layout, as (first, last) inclusive index ranges.
GROUPS_BY_KEYPOINT_COUNT = {
    # MLR511 Arabic: upper-body pose, left hand, right hand, face.
    90: ((0, 22), (23, 43), (44, 64), (65, 89)),
    # LSA-64 / WLASL: pose 33, left hand, right hand.
    75: ((0, 32), (33, 53), (54, 74)),
}
BOX_MARGIN = 0.05

# What an upstream sample pickle may reference: numpy array reconstruction, nothing else.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
}


class _ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle references something other than numpy arrays and builtins."""


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise _ForbiddenGlobal(f"global '{module}.{name}' is not allowed")
        return super().find_class(module, name)


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
    try:
        data = path.read_bytes()
    except OSError:
        raise DataError(f"{path}: sample file not found or unreadable.") from None
    try:
        loaded = _ArraysOnlyUnpickler(io.BytesIO(data)).load()
    except _ForbiddenGlobal as exc:
        raise DataError(f"{path}: refused to load ({exc}); samples may hold only arrays.") from None
    except Exception:
        raise DataError(f"{path}: not a readable sample pickle (truncated or corrupt).") from None
    if not isinstance(loaded, dict) or "keypoints" not in loaded:
        raise DataError(f"{path}: expected a dict with a 'keypoints' array.")
    keypoints = loaded["keypoints"]
    if not isinstance(keypoints, np.ndarray) or keypoints.ndim != 3 or keypoints.shape[2] < 2:
        raise DataError(f"{path}: 'keypoints' must be an array (frames, keypoints, >=2).")
    if keypoints.shape[0] == 0 or not np.isfinite(keypoints[..., :2]).all():
        raise DataError(f"{path}: 'keypoints' is empty or holds NaN/inf values.")
    return Sample(path=path, keypoints=keypoints, label=str(loaded.get("class", "")))


def preprocess(keypoints: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Published inference preprocessing: (T, K, C) raw -> ((seq_len, K, 2) float32, mask int64)."""
    xy = np.clip(np.asarray(keypoints, dtype=np.float64)[..., :2], 0.0, 1.0)
    if len(xy) > seq_len:
        xy = xy[np.linspace(0, len(xy) - 1, seq_len).astype(int)]
    groups = GROUPS_BY_KEYPOINT_COUNT.get(xy.shape[1], ((0, xy.shape[1] - 1),))
    for first, last in groups:
        xy[:, first : last + 1] = _normalise_group(xy[:, first : last + 1])
    valid = len(xy)
    frames = np.zeros((seq_len, xy.shape[1], 2), dtype=np.float32)
    frames[:valid] = xy
    mask = np.zeros(seq_len, dtype=np.int64)
    mask[:valid] = 1
    return frames, mask


def _normalise_group(group: np.ndarray) -> np.ndarray:
    """Per frame: map the group into its bounding box widened to a square with a 5% margin."""
    low, high = group.min(axis=1), group.max(axis=1)  # (T, 2)
    w, h = (high - low)[:, 0], (high - low)[:, 1]
    wide = w > h
    dx = np.where(wide, BOX_MARGIN * w, BOX_MARGIN * h + (h - w) / 2)
    dy = np.where(wide, BOX_MARGIN * w + (w - h) / 2, BOX_MARGIN * h)
    margin = np.stack([dx, dy], axis=1)
    box_low = np.clip(low - margin, 0.0, 1.0)
    box_high = np.clip(high + margin, 0.0, 1.0)
    extent = box_high - box_low
    safe = np.where(extent > 0, extent, 1.0)
    scaled = (group - box_low[:, None, :]) / safe[:, None, :]
    return np.where(extent[:, None, :] > 0, scaled, group)


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
    frames, mask = preprocess(sample.keypoints, seq_len)
    return frames[:, :num_keypoints], mask


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

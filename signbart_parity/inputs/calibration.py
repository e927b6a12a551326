"""Calibration inputs for static quantization, and a record of where they came from.

Real ``.pkl`` samples are used when the caller has them; otherwise real-like generated
sequences (``synthetic.py``). ``CalibrationSet.source`` says which, so reports can state it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.errors import DataError
from signbart_parity.inputs.samples import load_sample, prepare_sample
from signbart_parity.inputs.synthetic import real_like_batch

if TYPE_CHECKING:
    from signbart_parity.model.config import SignBartConfig

REAL, GENERATED = "real samples", "real-like generated sequences"
DEFAULT_COUNT = 64


@dataclass(frozen=True)
class CalibrationSet:
    """Single-example ``(keypoints (1, T, K, 2), mask (1, T))`` pairs plus their origin."""

    inputs: list[tuple[np.ndarray, np.ndarray]]
    source: str
    files: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{len(self.inputs)} {self.source}"

    def to_dict(self) -> dict:
        return {"source": self.source, "count": len(self.inputs), "files": list(self.files)}

    def fingerprint(self) -> str:
        """sha256 of the calibration inputs themselves: an edited sample at the same path
        changes it (the export cache keys static-int8 files by it)."""
        digest = hashlib.sha256()
        for keypoints, mask in self.inputs:
            for array in (np.asarray(keypoints, np.float32), np.asarray(mask, np.int64)):
                digest.update(str(array.shape).encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def calibration_set(
    config: SignBartConfig,
    seq_len: int,
    *,
    samples: Sequence[str | Path] = (),
    count: int = DEFAULT_COUNT,
    seed: int = 0,
) -> CalibrationSet:
    """Up to ``count`` calibration inputs: from ``samples`` (.pkl) if any is usable, else generated.

    Unusable sample files are left out here; the caller reports data problems itself.
    """
    real = _from_samples(samples[:count], seq_len, config.min_input_keypoints)
    if real.inputs:
        return real
    return generated_set(config, seq_len, count=count, seed=seed)


def generated_set(
    config: SignBartConfig, seq_len: int, *, count: int = DEFAULT_COUNT, seed: int = 0
) -> CalibrationSet:
    keypoints, masks, _ = real_like_batch(
        np.random.default_rng(seed),
        count=count,
        seq_len=seq_len,
        num_keypoints=config.min_input_keypoints,
        num_labels=config.num_labels,
    )
    inputs = [(keypoints[i : i + 1], masks[i : i + 1]) for i in range(count)]
    return CalibrationSet(inputs=inputs, source=GENERATED)


def _from_samples(paths: Sequence[str | Path], seq_len: int, min_keypoints: int) -> CalibrationSet:
    inputs, used = [], []
    for path in paths:
        try:
            sample = load_sample(path)
            keypoints, mask = prepare_sample(sample, seq_len=seq_len, num_keypoints=min_keypoints)
        except DataError:
            continue
        inputs.append((keypoints[None], mask[None]))
        used.append(str(path))
    return CalibrationSet(inputs=inputs, source=REAL, files=tuple(used))


def calibration_sets(
    config: SignBartConfig, seq_lens: Sequence[int], *, samples: Sequence[str | Path] = ()
) -> dict[int, CalibrationSet]:
    """One calibration set per seq_len (a bundle calibrates each of its buckets)."""
    return {length: calibration_set(config, length, samples=samples) for length in seq_lens}


def as_quantizer_inputs(sets: CalibrationSet | dict[int, CalibrationSet] | None):
    """What ``export.quantize.quantize_file`` takes: None, the inputs of one seq_len, or the inputs
    of each bucket keyed by seq_len."""
    if isinstance(sets, CalibrationSet):
        return sets.inputs
    if not sets:
        return None
    if len(sets) == 1:
        return next(iter(sets.values())).inputs
    return {length: found.inputs for length, found in sets.items()}


def sets_fingerprint(sets: dict[int, CalibrationSet] | None) -> str:
    """The content of every set, per seq_len: what static-int8 exports are cached by."""
    if not sets:
        return ""
    return ",".join(f"{length}:{found.fingerprint()}" for length, found in sets.items())

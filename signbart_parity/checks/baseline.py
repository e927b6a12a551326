"""Regression check against the file an app shipped: has the contract changed, and how
many predictions flip? Used by ``verify --baseline`` and the gate's ``--baseline``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.checks.golden import golden_inputs
from signbart_parity.runtime.read.precision import read_precision
from signbart_parity.targets import precision_label

if TYPE_CHECKING:
    from signbart_parity.runtime.read.signature import Signature
    from signbart_parity.runtime.run.tflite import TFLiteModel


@dataclass
class BaselineResult:
    contract_changes: list[str]
    examples: int = 0
    flips: int = 0
    max_drift: float = 0.0
    mean_drift: float = 0.0
    max_flip_rate: float = 0.0
    note: str = ""
    # What each file holds, read from the file (shipped, candidate): a change is no contract
    # change, but a reviewer should see it next to the flips.
    precisions: tuple[str, str] | None = None

    @property
    def flip_rate(self) -> float:
        return self.flips / self.examples if self.examples else 0.0

    @property
    def passed(self) -> bool:
        return not self.contract_changes and self.flip_rate <= self.max_flip_rate

    def summary(self) -> str:
        """One line: what changed against the shipped file."""
        parts = []
        if self.contract_changes:
            parts.append("CONTRACT CHANGED: " + "; ".join(self.contract_changes))
        if self.examples:
            parts.append(
                f"{self.flips}/{self.examples} predictions flip ({self.flip_rate:.1%}, "
                f"allowed {self.max_flip_rate:.1%})"
            )
        return "; ".join(parts) or self.note or "nothing compared"

    def lines(self, path: Path) -> list[str]:
        lines = [f"baseline {path}:"]
        if self.contract_changes:
            lines.append("  CONTRACT CHANGED: " + "; ".join(self.contract_changes))
        else:
            lines.append("  contract unchanged (input/output names, order, shapes, dtypes)")
        if self.precisions:
            shipped, candidate = (precision_label(p) for p in self.precisions)
            lines.append(
                f"  precision: {shipped} (shipped) -> {candidate} (this file), read from the files"
            )
        if self.note:
            lines.append(f"  {self.note}")
        if self.examples:
            verdict = "ok" if self.flip_rate <= self.max_flip_rate else "TOO MANY FLIPS"
            lines.append(
                f"  {self.flips}/{self.examples} predictions flip ({self.flip_rate:.1%}, allowed "
                f"{self.max_flip_rate:.1%}: {verdict}); logit drift max {self.max_drift:.3g}, "
                f"mean {self.mean_drift:.3g}"
            )
        return lines


def contract_changes(baseline: Signature, candidate: Signature) -> list[str]:
    """Contract differences from the shipped file to the candidate (names, order, shapes,
    dtypes; the labels count is the output's last dimension)."""
    changes = baseline.differences(candidate)
    if baseline.num_labels != candidate.num_labels:
        changes.append(f"labels count {baseline.num_labels} -> {candidate.num_labels}")
    return changes


def compare_with_baseline(
    baseline: TFLiteModel,
    candidate: TFLiteModel,
    *,
    real: tuple[np.ndarray, np.ndarray, list[str]] | None,
    max_flip_rate: float,
) -> BaselineResult:
    """Contract changes, then top-1 flips and logit drift on golden-style inputs."""
    result = BaselineResult(contract_changes(baseline.signature, candidate.signature))
    result.max_flip_rate = max_flip_rate
    same_inputs = (
        baseline.signature.keypoints.shape[1:] == candidate.signature.keypoints.shape[1:]
        and baseline.signature.num_labels == candidate.signature.num_labels
    )
    if not same_inputs:
        result.note = "flips not counted: the files take or give differently shaped tensors"
        return result
    keypoints, masks, _ = golden_inputs(
        seq_len=candidate.seq_len, num_keypoints=candidate.signature.num_keypoints
    )
    if real is not None and len(real[0]):
        keypoints = np.concatenate([keypoints, real[0]])
        masks = np.concatenate([masks, real[1]])
    old, new = baseline(keypoints, masks), candidate(keypoints, masks)
    drift = np.abs(new.astype(np.float64) - old)
    result.examples = len(masks)
    result.flips = int((old.argmax(-1) != new.argmax(-1)).sum())
    result.max_drift = float(drift.max())
    result.mean_drift = float(drift.mean())
    return result


def compare_files(
    baseline: list[TFLiteModel],
    candidate: list[TFLiteModel],
    *,
    real: tuple[np.ndarray, np.ndarray, list[str]] | None,
    max_flip_rate: float,
) -> BaselineResult:
    """Every signature of the shipped file against the candidate's of the same name.

    A different set of signatures is a contract change (an app calls them by name); for a
    bundle, each contract change names its signature and flips are counted over all of them.
    """
    old = {model.signature.name: model for model in baseline}
    new = {model.signature.name: model for model in candidate}
    result = BaselineResult([], max_flip_rate=max_flip_rate)
    if list(old) != list(new):
        result.contract_changes.append(f"signatures {', '.join(old)} -> {', '.join(new)}")
    several = len(old) > 1 or len(new) > 1
    drift_total = 0.0
    for name in [name for name in old if name in new]:
        pair = compare_with_baseline(old[name], new[name], real=real, max_flip_rate=max_flip_rate)
        prefix = f"{name}: " if several else ""
        result.contract_changes += [prefix + change for change in pair.contract_changes]
        if pair.note:
            result.note = f"{prefix}{pair.note}"
        result.examples += pair.examples
        result.flips += pair.flips
        result.max_drift = max(result.max_drift, pair.max_drift)
        drift_total += pair.mean_drift * pair.examples
    result.mean_drift = drift_total / result.examples if result.examples else 0.0
    if baseline and candidate:
        result.precisions = tuple(
            read_precision(f[0].path).quantization for f in (baseline, candidate)
        )
    return result

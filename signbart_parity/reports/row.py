"""One row of a parity report: the numbers recorded for one target (examples, errors,
agreement, the file, its latency), how comparisons add to it, and how shards combine."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from signbart_parity.checks.table import CHECKS
from signbart_parity.inputs.masks import summarise
from signbart_parity.runtime.read.inspect import min_runtime_version
from signbart_parity.targets import Target

if TYPE_CHECKING:
    from signbart_parity.checks.compare import Comparison

# Checks that compare TFLite with PyTorch (the check table says which): they feed the error
# and top-1 columns. The others compare the file with itself or another export; every
# check's examples count, and feed the headroom (bound ratio), the plots and the worst cases.
VERSUS_PYTORCH = tuple(name for name, spec in CHECKS.items() if spec.versus_pytorch)
MAX_SAMPLES = 1000  # per row: every example of the dev and ci profiles; plots say when capped
WORST_KEPT = 5


@dataclass
class Row:
    """The numbers recorded for one target: examples, errors, agreement, file, latency."""

    target: Target
    passed: bool = True  # every recorded comparison was within its bound
    examples: int = 0
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    top1_agreed: int = 0
    top1_compared: int = 0
    oracle_max_abs_err: float | None = None
    tflite_oracle_max_abs_err: float | None = None
    checks: dict[str, dict[str, int]] = field(default_factory=dict)
    divergence: str | None = None
    # The per-op table of a failing target (``checks/ops.py``'s ``OpTable.to_dict``).
    op_table: dict | None = None
    # A failing quantized target's fix (``reports/repair.py``): the repair command, and
    # what a search found when the run searched.
    repair: dict | None = None
    file: str | None = None
    signature: str | None = None  # which signature of ``file`` (set for bundles)
    size_bytes: int | None = None
    latency_ms: float | None = None
    # The runtime build that ran the file (runtime, version, arch, emulator), as imported.
    runtime_build: dict | None = None
    min_runtime_version: str | None = None  # what the file itself claims to need
    # The headroom: the worst example's max |difference| as a multiple of its bound, over
    # every check of the row (below 1 passes); and, where that bound is a fraction of the
    # example's logit scale (int8 modes), that scale.
    bound_ratio: float | None = None
    logit_scale: float | None = None
    # Per example (every check, at most MAX_SAMPLES): error, headroom, mask, verdict.
    samples: list[dict] = field(default_factory=list)
    worst: list[dict] = field(default_factory=list)
    # Examples outside the app contract (checks/domain.py), run but not judged: per check,
    # their count, failing count, max |difference| and bound ratio. Empty when none ran or
    # when the user asked to judge them (then they are counted above like any other).
    outside: dict[str, dict] = field(default_factory=dict)

    @property
    def top1_agreement(self) -> float | None:
        return self.top1_agreed / self.top1_compared if self.top1_compared else None

    def add(
        self,
        check: str,
        comparison: Comparison,
        masks,
        *,
        descriptions: Sequence[str] | None = None,
        oracle_err: float | None = None,
        tflite_oracle_err: float | None = None,
    ) -> None:
        """Add one comparison's examples to this row under ``check``."""
        masks = np.asarray(masks)
        self.examples += comparison.examples
        self.passed &= comparison.passed
        _add_tally(self.checks.setdefault(check, {}), comparison)
        versus = check in VERSUS_PYTORCH
        if versus:
            self.max_abs_err = max(self.max_abs_err, comparison.max_abs_err)
            self.max_rel_err = max(self.max_rel_err, comparison.max_rel_err)
            self.top1_agreed += round(comparison.top1_agreement * comparison.examples)
            self.top1_compared += comparison.examples
            self.oracle_max_abs_err = _max(self.oracle_max_abs_err, oracle_err)
            self.tflite_oracle_max_abs_err = _max(self.tflite_oracle_max_abs_err, tflite_oracle_err)
        self._note_headroom(comparison)
        worst = []
        for index, mask in enumerate(masks[: comparison.examples]):
            sample = _sample(check, comparison, index, mask)
            if len(self.samples) < MAX_SAMPLES:
                self.samples.append(sample)
            what = descriptions[index] if descriptions else None
            worst.append(sample | {"message": _worst_message(comparison, index, what)})
        self.worst = _worst_first(self.worst + worst)

    def add_outside(self, check: str, comparison: Comparison) -> None:
        """Add the examples of ``check`` outside the app contract: shown, never judged."""
        if comparison.examples:
            _add_tally(self.outside.setdefault(check, {}), comparison)

    def _note_headroom(self, comparison: Comparison) -> None:
        """Keep the worst example's multiple of its bound, and its logit scale where the
        bound is relative to it."""
        if comparison.examples and (
            self.bound_ratio is None or comparison.bound_ratio > self.bound_ratio
        ):
            self.bound_ratio = float(comparison.bound_ratio)
            self.logit_scale = comparison.logit_scale

    def describe_file(self, tflite) -> None:
        """Record which file, signature and runtime build (a ``TFLiteModel``) the numbers
        came from, and the min_runtime_version the file claims."""
        self.file, self.size_bytes = str(tflite.path), tflite.path.stat().st_size
        self.signature = tflite.signature_key
        self.runtime_build = tflite.runtime_build
        self.min_runtime_version = min_runtime_version(tflite.path)

    def combine(self, other: Row) -> Row:
        """One row from two shards' rows of the same target (xdist workers, CI jobs)."""
        combined = copy.deepcopy(self)
        combined.passed = self.passed and other.passed
        combined.examples += other.examples
        combined.max_abs_err = max(self.max_abs_err, other.max_abs_err)
        combined.max_rel_err = max(self.max_rel_err, other.max_rel_err)
        combined.top1_agreed += other.top1_agreed
        combined.top1_compared += other.top1_compared
        combined.oracle_max_abs_err = _max(self.oracle_max_abs_err, other.oracle_max_abs_err)
        combined.tflite_oracle_max_abs_err = _max(
            self.tflite_oracle_max_abs_err, other.tflite_oracle_max_abs_err
        )
        for mine, theirs in ((combined.checks, other.checks), (combined.outside, other.outside)):
            for check, tally in theirs.items():
                mine[check] = _combine_tallies(mine.get(check, {}), tally)
        combined.divergence = self.divergence or other.divergence
        combined.op_table = self.op_table or other.op_table
        combined.repair = self.repair or other.repair
        combined.file = self.file or other.file
        combined.signature = self.signature or other.signature
        combined.size_bytes = self.size_bytes or other.size_bytes
        combined.latency_ms = self.latency_ms if self.latency_ms is not None else other.latency_ms
        combined.runtime_build = self.runtime_build or other.runtime_build
        combined.min_runtime_version = self.min_runtime_version or other.min_runtime_version
        if other.bound_ratio is not None and (
            self.bound_ratio is None or other.bound_ratio > self.bound_ratio
        ):
            combined.bound_ratio, combined.logit_scale = other.bound_ratio, other.logit_scale
        combined.samples = (self.samples + other.samples)[:MAX_SAMPLES]
        combined.worst = _worst_first(self.worst + other.worst)
        return combined

    def to_dict(self, *, passed: bool | None = None) -> dict[str, Any]:
        data = self.target.to_dict()
        for item in fields(self):
            if item.name != "target":
                data[item.name] = getattr(self, item.name)
        data["top1_agreement"] = self.top1_agreement
        if passed is not None:
            data["passed"] = passed
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Row:
        known = {item.name for item in fields(cls)} - {"target"}
        values = {key: copy.deepcopy(value) for key, value in data.items() if key in known}
        return cls(target=Target.from_dict(data), **values)


# A check's tally: counts add up across shards, the worst error and bound ratio are kept.
TALLY_SUMS = ("examples", "failed", "top1_agreed")
TALLY_MAXIMA = ("max_abs_err", "bound_ratio")


def tally_of(comparison: Comparison) -> dict:
    """One comparison as a check's tally: its count, failures, top-1 and worst."""
    return {
        "examples": comparison.examples,
        "failed": comparison.failing_examples,
        "top1_agreed": round(comparison.top1_agreement * comparison.examples),
        "max_abs_err": comparison.max_abs_err if comparison.examples else None,
        "bound_ratio": comparison.bound_ratio if comparison.examples else None,
    }


def _add_tally(tally: dict, comparison: Comparison) -> None:
    tally.update(_combine_tallies(tally, tally_of(comparison)))


def _combine_tallies(a: dict, b: dict) -> dict:
    combined = {key: int(a.get(key, 0)) + int(b.get(key, 0)) for key in TALLY_SUMS}
    for key in TALLY_MAXIMA:
        combined[key] = _max(a.get(key), b.get(key))
    return combined


def _max(a: float | None, b: float | None) -> float | None:
    values = [value for value in (a, b) if value is not None]
    return max(values) if values else None


def _sample(check: str, comparison: Comparison, index: int, mask) -> dict:
    return {
        "abs_err": float(comparison.example_abs_err[index]),
        "bound_ratio": float(comparison.example_bound_ratio[index]),
        "valid_frames": int(mask.sum()),
        "mask": summarise(mask),
        "property": check,
        "passed": bool(comparison.example_passed[index]),
    }


def _worst_message(comparison: Comparison, index: int, description: str | None) -> str:
    """What the worst-cases table adds to its columns: the inputs (where they have a
    description), the bound that example was held to, and why it failed."""
    allowed = f"allowed {float(comparison.example_bound[index]):.3g}"
    if comparison.scale_relative:
        allowed += f" (logit scale {float(comparison.example_logit_scale[index]):.3g})"
    parts = [description] if description else []
    parts.append(allowed)
    if not comparison.example_passed[index]:
        over = comparison.example_bound_ratio[index] > 1
        parts.append("over the bound" if over else "top-1 flipped beyond a near-tie")
    return "; ".join(parts)


def _worst_first(samples: list[dict]) -> list[dict]:
    """Failing examples first, then the closest to their bound (by bound ratio)."""
    ordered = sorted(samples, key=closeness)
    return ordered[:WORST_KEPT]


def closeness(sample: dict) -> tuple:
    ratio = sample.get("bound_ratio")
    ratio = float(ratio) if ratio is not None else -1.0  # older reports: by error alone
    return (bool(sample.get("passed")), -ratio, -float(sample.get("abs_err", 0)))

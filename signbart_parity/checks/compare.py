"""Compare TFLite logits with PyTorch logits under the tolerance table.

Comparisons return a ``Comparison``; callers assert at the edge with its ``message()``,
which carries the numbers (never a bare bool).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from signbart_parity.checks.tolerances import Tolerance
from signbart_parity.inputs.masks import summarise

PER_EXAMPLE = (
    "example_abs_err",
    "example_passed",
    "example_bound_ratio",
    "example_bound",
    "example_logit_scale",
)


@dataclass
class Comparison:
    """The outcome of comparing candidate logits with reference logits, example by example."""

    precision: str
    tolerance: str
    examples: int
    passed: bool
    max_abs_err: float
    mean_abs_err: float
    max_rel_err: float
    top1_agreement: float
    failing_examples: int
    # Smallest multiple of the tolerance's bound that every example would have met.
    bound_ratio: float
    worst: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # Per example: max |difference| and whether it met the bound (near-tie flips excused).
    example_abs_err: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    example_passed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    # Per example: its largest |difference| as a multiple of the bound (the headroom), the
    # bound at that logit, and its logit scale (largest |logit|, at least 1).
    example_bound_ratio: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    example_bound: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    example_logit_scale: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    # Whether the bound is a fraction of each example's logit scale (the int8 modes).
    scale_relative: bool = False

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict:
        data = asdict(self)
        for name in PER_EXAMPLE:
            del data[name]
        return data

    @property
    def worst_index(self) -> int | None:
        """The example closest to (or furthest over) its bound."""
        return int(np.argmax(self.example_bound_ratio)) if len(self.example_bound_ratio) else None

    @property
    def logit_scale(self) -> float | None:
        """The logit scale of the worst example, where the bound is relative to it."""
        index = self.worst_index
        if not self.scale_relative or index is None:
            return None
        return float(self.example_logit_scale[index])

    def message(self, context: str = "") -> str:
        verdict = "parity holds" if self.passed else "PARITY VIOLATED"
        head = f"{verdict}{f' ({context})' if context else ''}: {self.examples} examples, "
        head += (
            f"max abs err {self.max_abs_err:.3g}, mean abs err {self.mean_abs_err:.3g}, "
            f"max rel err {self.max_rel_err:.3g}, top-1 agreement {self.top1_agreement:.1%}, "
            f"error at {self.bound_ratio:.3g}x the allowed bound [{self.tolerance}]"
        )
        lines = [head]
        if self.worst:
            w = self.worst
            lines.append(
                f"worst: example {w['example']}, logit {w['logit']}: torch {w['reference']:.6g} "
                f"vs tflite {w['candidate']:.6g}" + (f", mask {w['mask']}" if "mask" in w else "")
            )
        lines.extend(self.problems)
        return "\n".join(lines)


def compare_logits(
    reference: np.ndarray,
    candidate: np.ndarray,
    tolerance: Tolerance,
    *,
    masks: np.ndarray | None = None,
) -> Comparison:
    """Check ``candidate`` (N, C) against ``reference`` (N, C), both logits."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ValueError(f"logit shapes differ: {reference.shape} vs {candidate.shape}")
    diff = np.abs(candidate - reference)
    if not np.isfinite(candidate).all():
        diff = np.where(np.isfinite(candidate), diff, np.inf)
    bound = tolerance.bound(reference)
    # A zero bound (exact comparison) makes any difference infinitely over and none at 0x.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / bound)
    within = (ratio <= 1.0).all(axis=-1)
    same_top1 = candidate.argmax(-1) == reference.argmax(-1)
    margin = _top2_margin(reference)
    excusable_flip = margin <= 2 * bound.max(axis=-1)
    example_ok = within & (same_top1 | excusable_flip)
    agreement = float(same_top1.mean()) if len(same_top1) else 1.0

    problems = []
    non_finite = ~np.isfinite(candidate).all(axis=-1)
    if non_finite.any():
        problems.append(
            f"{int(non_finite.sum())} of {len(non_finite)} examples have non-finite logits "
            "(NaN or inf) from the file"
        )
    if not within.all():
        problems.append(f"{int((~within).sum())} of {len(within)} examples exceed the bound")
    unexplained = ~same_top1 & ~excusable_flip
    if unexplained.any():
        problems.append(
            f"{int(unexplained.sum())} top-1 flips where PyTorch's margin is larger than the "
            "error bound could explain"
        )
    if agreement < tolerance.min_top1_agreement:
        problems.append(
            f"top-1 agreement {agreement:.1%} is below {tolerance.min_top1_agreement:.0%}"
        )
    example, logit = np.unravel_index(int(np.argmax(ratio)), ratio.shape) if diff.size else (0, 0)
    worst = {}
    if diff.size:
        worst = {
            "example": int(example),
            "logit": int(logit),
            "reference": float(reference[example, logit]),
            "candidate": float(candidate[example, logit]),
        }
        if masks is not None:
            worst["mask"] = summarise(masks[example])
    rel = diff / np.maximum(np.abs(reference), 1e-6)
    rows = np.arange(len(ratio))
    at = ratio.argmax(axis=-1) if diff.size else np.zeros(len(diff), dtype=int)
    return Comparison(
        precision=tolerance.precision,
        tolerance=tolerance.describe(),
        examples=len(reference),
        passed=bool(example_ok.all()) and agreement >= tolerance.min_top1_agreement,
        max_abs_err=float(diff.max()) if diff.size else 0.0,
        mean_abs_err=float(diff.mean()) if diff.size else 0.0,
        max_rel_err=float(rel.max()) if diff.size else 0.0,
        top1_agreement=agreement,
        failing_examples=int((~example_ok).sum()),
        bound_ratio=float(ratio.max()) if diff.size else 0.0,
        worst=worst,
        problems=problems,
        example_abs_err=diff.max(axis=-1) if diff.size else np.zeros(len(diff)),
        example_passed=example_ok,
        example_bound_ratio=ratio[rows, at] if diff.size else np.zeros(len(diff)),
        example_bound=bound[rows, at] if diff.size else np.zeros(len(diff)),
        example_logit_scale=(
            np.maximum(np.abs(reference).max(axis=-1), 1.0) if diff.size else np.zeros(len(diff))
        ),
        scale_relative=tolerance.scale_fraction > 0,
    )


def _top2_margin(logits: np.ndarray) -> np.ndarray:
    if logits.shape[-1] < 2:
        return np.full(logits.shape[:-1], np.inf)
    top2 = np.sort(logits, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]

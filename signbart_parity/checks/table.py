"""The check table: every check run on examples, declared once, for every door.

A check is a ``CheckSpec``: its name, what it compares, what each door feeds it, how it is
judged and whether it feeds the error and top-1 columns. Running and judging are separate
(as Polygraphy's comparator runs first and judges later): ``spec.run`` turns a ``Subject``
(the file, and the model or another file it is compared with) and a ``Batch`` of inputs into
``Ran`` (the two logits per example; for ``golden`` the reference is stored with the
inputs); ``judge`` turns that into a ``CheckResult``, by the spec's tolerance mode, with
the examples outside the app contract (``domain.py``) judged apart. The gate runs each check
on the examples hypothesis draws, ``verify`` on its fixed seeded batch, ``golden check`` on
a golden file's rows; a name is one measurement at every door.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.checks.compare import Comparison, compare_logits
from signbart_parity.checks.domain import judged
from signbart_parity.checks.properties import EXACT, right_pad, scramble_padding
from signbart_parity.checks.reference import torch_logits
from signbart_parity.checks.tolerances import Tolerance, tolerance_for

if TYPE_CHECKING:
    from signbart_parity.model.signbart import SignBart
    from signbart_parity.runtime.run.tflite import TFLiteModel

# How a check is judged: identical logits; each example by the precision's bound (a top-1
# flip passes only on a near-tie); or that and the precision's top-1 agreement rate, which
# only means something over a set of examples.
EXACT_MATCH, PER_EXAMPLE, FULL_RULE = "exact", "per-example", "full rule"


@dataclass
class Subject:
    """What a check runs: the file (one signature, in one runtime) against the checkpoint
    (None for ``golden``, whose reference is stored), and, for ``bucket``, the shorter export
    the same frames are compared with."""

    model: SignBart | None
    tflite: TFLiteModel
    precision: str
    shorter: TFLiteModel | None = None
    seed: int = 0  # of the random values ``padding`` writes into padded frames

    @property
    def runtime(self) -> str:
        """The runtime the file runs in: its bound widens on some (``tolerance_for``)."""
        return self.tflite.runtime


@dataclass
class Batch:
    """Inputs for one check: keypoints (N, T, K, 2), masks (N, T), a description each, and
    for ``golden`` the PyTorch logits stored with them (N, C)."""

    keypoints: np.ndarray
    masks: np.ndarray
    descriptions: list[str] = field(default_factory=list)
    stored: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.masks = np.asarray(self.masks)
        if not self.descriptions:
            self.descriptions = [f"example {index}" for index in range(len(self.masks))]

    def where(self, keep: np.ndarray) -> Batch:
        texts = [text for text, kept in zip(self.descriptions, keep, strict=True) if kept]
        stored = None if self.stored is None else self.stored[keep]
        return Batch(self.keypoints[keep], self.masks[keep], texts, stored)


@dataclass
class Ran:
    """What running a check produced: reference and candidate logits per example, and the
    inputs the candidate ran on (for localisation and the report)."""

    reference: np.ndarray
    candidate: np.ndarray
    inputs: Batch


@dataclass(frozen=True)
class CheckSpec:
    name: str
    compares: str  # what with what, in the words the README uses
    feeds: str  # what each door runs it on
    judged: str  # EXACT_MATCH, PER_EXAMPLE or FULL_RULE
    run: Callable[[Subject, Batch], Ran | None]
    versus_pytorch: bool = False  # feeds the error and top-1 columns

    def tolerance(self, precision: str, runtime: str | None = None) -> Tolerance:
        """The bound this check judges by: the precision's, as ``runtime`` computes it."""
        if self.judged == EXACT_MATCH:
            return EXACT
        tolerance = tolerance_for(precision, runtime)
        return tolerance if self.judged == FULL_RULE else tolerance.per_example()


@dataclass
class CheckResult:
    """One check's verdict on one file: the examples that decide it (``comparison``) and
    those outside the app contract, run and reported apart (``outside``)."""

    name: str
    comparison: Comparison
    inputs: Batch
    outside: Comparison | None = None
    outside_inputs: Batch | None = None

    @property
    def passed(self) -> bool:
        return self.comparison.passed

    # Callers test the verdict as they test a ``Comparison`` (``if not result``); without
    # this a dataclass is always true and a failing check would never fail its test.
    def __bool__(self) -> bool:
        return self.passed

    # the judged examples, as localisation and the report read them
    @property
    def keypoints(self) -> np.ndarray:
        return self.inputs.keypoints

    @property
    def masks(self) -> np.ndarray:
        return self.inputs.masks

    @property
    def descriptions(self) -> list[str]:
        return self.inputs.descriptions

    @property
    def example_err(self) -> np.ndarray:
        return self.comparison.example_abs_err

    @property
    def example_ok(self) -> np.ndarray:
        return self.comparison.example_passed


def judge(
    spec: CheckSpec,
    ran: Ran,
    precision: str,
    *,
    runtime: str | None = None,
    judge_outside: bool = False,
) -> CheckResult:
    """The one judging function: the spec's tolerance mode (the precision's bound in
    ``runtime``) on the examples an app may send (every example with ``judge_outside``),
    and the same numbers apart for the others."""
    tolerance = spec.tolerance(precision, runtime)
    keep = judged(ran.inputs.masks, judge_outside=judge_outside)
    result = CheckResult(spec.name, _compare(ran, keep, tolerance), ran.inputs.where(keep))
    if not keep.all():
        result.outside = _compare(ran, ~keep, tolerance)
        result.outside_inputs = ran.inputs.where(~keep)
    return result


def _compare(ran: Ran, keep: np.ndarray, tolerance: Tolerance) -> Comparison:
    return compare_logits(
        ran.reference[keep], ran.candidate[keep], tolerance, masks=ran.inputs.masks[keep]
    )


def run_check(
    name: str, subject: Subject, batch: Batch, *, judge_outside: bool = False
) -> CheckResult | None:
    """Run and judge check ``name`` on ``batch``; None when no example suits it."""
    spec = CHECKS[name]
    ran = spec.run(subject, batch)
    if ran is None:
        return None
    return judge(spec, ran, subject.precision, runtime=subject.runtime, judge_outside=judge_outside)


# ---------------------------------------------------------------- running


def _versus_pytorch(subject: Subject, batch: Batch) -> Ran:
    keypoints, masks = batch.keypoints, batch.masks
    reference = torch_logits(subject.model, keypoints, masks)
    return Ran(reference, subject.tflite(keypoints, masks), batch)


def _versus_stored(subject: Subject, batch: Batch) -> Ran:
    return Ran(batch.stored, subject.tflite(batch.keypoints, batch.masks), batch)


def _padding(subject: Subject, batch: Batch) -> Ran | None:
    """The file on the padded examples, and on them with padded frames scrambled."""
    valid = batch.masks.sum(axis=1)
    padded = batch.where((valid >= 1) & (valid < batch.masks.shape[1]))
    if not len(padded.masks):
        return None
    rng = np.random.default_rng(subject.seed)
    scrambled = scramble_padding(padded.keypoints, padded.masks, rng)
    original = subject.tflite(padded.keypoints, padded.masks)
    changed = subject.tflite(scrambled, padded.masks)
    return Ran(original, changed, Batch(scrambled, padded.masks, padded.descriptions))


def _determinism(subject: Subject, batch: Batch) -> Ran:
    first = subject.tflite(batch.keypoints, batch.masks)
    return Ran(first, subject.tflite(batch.keypoints, batch.masks), batch)


def _short_clip(subject: Subject, batch: Batch) -> Ran:
    """Clips of L frames right-padded into the file against PyTorch on the L frames."""
    seq_len = subject.tflite.seq_len
    length = batch.masks.shape[1]
    reference = torch_logits(subject.model, batch.keypoints, batch.masks)
    keypoints, masks = right_pad(batch.keypoints, batch.masks, seq_len)
    texts = [f"{text}, {length} frames padded to {seq_len}" for text in batch.descriptions]
    return Ran(reference, subject.tflite(keypoints, masks), Batch(keypoints, masks, texts))


def _bucket(subject: Subject, batch: Batch) -> Ran:
    """Frames in the shorter export against the same frames right-padded into the longer."""
    short, long = subject.shorter, subject.tflite
    keypoints, masks = right_pad(batch.keypoints, batch.masks, long.seq_len)
    reference = short(batch.keypoints, batch.masks)
    texts = [
        f"{text}, {short.seq_len} frames padded to {long.seq_len}" for text in batch.descriptions
    ]
    return Ran(reference, long(keypoints, masks), Batch(keypoints, masks, texts))


EXAMPLES = "gate: each drawn example; verify: its fixed seeded batch"
CHECKS: dict[str, CheckSpec] = {
    spec.name: spec
    for spec in (
        CheckSpec(
            "parity",
            "TFLite logits against PyTorch's",
            EXAMPLES,
            PER_EXAMPLE,
            _versus_pytorch,
            versus_pytorch=True,
        ),
        CheckSpec(
            "agreement",
            "TFLite logits against PyTorch's, with the top-1 agreement rate",
            "the fixed seeded batch (--examples, --seed) at both doors",
            FULL_RULE,
            _versus_pytorch,
            versus_pytorch=True,
        ),
        CheckSpec(
            "real-sample",
            "TFLite logits against PyTorch's on real preprocessed samples",
            "the real samples given (--samples / --parity-samples)",
            FULL_RULE,
            _versus_pytorch,
            versus_pytorch=True,
        ),
        CheckSpec(
            "padding",
            "the file on padded examples against the same with padded frames scrambled",
            EXAMPLES + " (its padded examples)",
            PER_EXAMPLE,
            _padding,
        ),
        CheckSpec(
            "determinism",
            "the file against itself, run twice on the same input",
            EXAMPLES,
            EXACT_MATCH,
            _determinism,
        ),
        CheckSpec(
            "short-clip",
            "L = seq_len // 2 frames right-padded into the file against PyTorch on L frames",
            "verify: seeded clips of the mask kinds that stay meaningful when padded",
            PER_EXAMPLE,
            _short_clip,
        ),
        CheckSpec(
            "bucket",
            "L frames in the seq_len-L export against them right-padded into a longer one",
            "gate: drawn examples, per pair of --parity-seq-lens; verify: seeded clips, per "
            "pair of neighbouring signatures of a bundle",
            PER_EXAMPLE,
            _bucket,
        ),
        CheckSpec(
            "golden",
            "TFLite logits against the PyTorch logits stored with the inputs",
            "golden check: a golden file's rows in the precision's input range; the gate: "
            "each stored counterexample, against the current checkpoint's logits",
            FULL_RULE,
            _versus_stored,
        ),
    )
}

"""``signbart-parity verify``: does this .tflite file compute what this checkpoint computes?

The file's seq_len and signature are read from the file itself. The checks are the check
table's (``table.py``), each on what verify feeds it: the fixed seeded batch, which cycles
every keypoint kind x mask kind (parity, agreement, padding, determinism), the real samples
given (real-sample), seeded short clips (short-clip) and, in a file with a signature per
bucket, the same frames in neighbouring signatures (bucket). A name means what it means in
the gate. Examples outside the app contract (``domain.py``) are run and reported apart.

Every signature of a multi-signature file is checked with every check, and has its own
row in the output and the report; a fault in one signature fails the file and names it.
When a check fails, the first diverging stage is localised in the file's own intermediate
tensors (``divergence.py``), and the first departing operator on the same example
(``ops.py``, ``op_localisation``). With ``--baseline`` the shipped file is compared with this one:
contract changes fail; prediction flips on golden-style inputs fail above ``--max-flip-rate``.

The command (``cli/verify.py``) prints and reports what these checks find.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.checks.divergence import divergence_line
from signbart_parity.checks.domain import judged
from signbart_parity.checks.ops import localise
from signbart_parity.checks.reference import float64_oracle, torch_logits
from signbart_parity.checks.reference import oracle_errors as errors_to_oracle
from signbart_parity.checks.table import CHECKS, Batch, CheckResult, Subject, judge, run_check
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.inputs.generators import batch_of, example_batch, keypoint_kinds_for
from signbart_parity.inputs.masks import BUCKET_MASK_KINDS, summarise
from signbart_parity.inputs.samples import preprocessed_samples

# The runtime op-level localisation takes as the reference: the build installed here.
REFERENCE_RUNTIME = "litert"

if TYPE_CHECKING:
    from signbart_parity.checks.ops import OpTable
    from signbart_parity.model.config import SignBartConfig
    from signbart_parity.model.signbart import SignBart
    from signbart_parity.runtime.run.tflite import TFLiteModel

Check = CheckResult  # what one check found on one signature


def run_checks(
    model: SignBart,
    tflite: TFLiteModel,
    *,
    quantization: str,
    keypoints: np.ndarray,
    masks: np.ndarray,
    descriptions: list[str],
    real: tuple[np.ndarray, np.ndarray, list[str]] | None,
    seed: int,
    judge_outside: bool = False,
) -> list[Check]:
    """Every check of the table that runs on one signature, in table order, each on what
    verify feeds it (``CheckSpec.feeds``); parity and agreement judge the same logits."""
    subject = Subject(model, tflite, quantization, seed=seed + 1)
    batch = Batch(keypoints, masks, list(descriptions))
    inputs: dict[str, Batch] = {"parity": batch, "agreement": batch}
    inputs["padding"] = inputs["determinism"] = batch
    if real is not None and len(real[0]):
        inputs["real-sample"] = Batch(*real)
    if tflite.seq_len // 2 >= 1:
        inputs["short-clip"] = Batch(
            *bucket_inputs(
                np.random.default_rng(seed + 2),
                count=max(len(BUCKET_MASK_KINDS), len(masks) // 3),
                seq_len=tflite.seq_len // 2,
                num_keypoints=keypoints.shape[2],
                keypoint_kinds=keypoint_kinds_for(tolerance_for(quantization, tflite.runtime)),
            )
        )
    return _run_table(subject, inputs, judge_outside=judge_outside)


def _run_table(subject: Subject, inputs: dict[str, Batch], *, judge_outside: bool) -> list[Check]:
    """Run each check given inputs, in table order; a run shared by two checks on the
    same inputs (parity and agreement) is run once and judged twice."""
    runs: dict[tuple, object] = {}
    checks = []
    for spec in CHECKS.values():
        batch = inputs.get(spec.name)
        if batch is None:
            continue
        key = (spec.run, id(batch))
        if key not in runs:
            runs[key] = spec.run(subject, batch)
        if runs[key] is not None:
            checks.append(
                judge(
                    spec,
                    runs[key],
                    subject.precision,
                    runtime=subject.runtime,
                    judge_outside=judge_outside,
                )
            )
    return checks


def bucket_inputs(
    rng: np.random.Generator,
    *,
    count: int,
    seq_len: int,
    num_keypoints: int,
    keypoint_kinds: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``count`` examples of the mask kinds that stay meaningful when right-padded."""
    pairs = (
        (keypoint_kinds[i % len(keypoint_kinds)], BUCKET_MASK_KINDS[i % len(BUCKET_MASK_KINDS)])
        for i in range(count)
    )
    return batch_of(pairs, rng, seq_len=seq_len, num_keypoints=num_keypoints)


# ---------------------------------------------------------------- localisation


def worst_example(check: Check) -> int:
    """The failing example with the largest error, preferring one with a valid frame.

    An all-zero mask is avoided when possible: without a delegate (how localisation runs
    the file) TFLite's builtin kernels treat a fully masked softmax differently.
    """
    failing = ~check.example_ok
    nonempty = check.masks.sum(axis=1) > 0
    for pool in (failing & nonempty, failing, nonempty, np.ones_like(failing)):
        if pool.any():
            return int(np.flatnonzero(pool)[np.argmax(check.example_err[pool])])
    return 0


def failing_example(checks: list[Check]) -> tuple[Check, int] | None:
    """The worst example of the first failing input-dependent check (None: none failed)."""
    order = ("parity", "agreement", "real-sample", "padding", "short-clip", "bucket")
    failed = [c for name in order for c in checks if c.name == name and not c.passed]
    if not failed:
        return None
    return failed[0], worst_example(failed[0])


def divergence_text(model, tflite: TFLiteModel, checks: list[Check], quantization: str) -> str:
    """The first diverging stage, on the worst example of the first failing
    input-dependent check, in the checked signature, through the runtime it was checked with."""
    found = failing_example(checks)
    if found is None:
        return "no input-dependent check failed; divergence not localised"
    check, index = found
    where = check.descriptions[index] if index < len(check.descriptions) else f"example {index}"
    return divergence_line(
        model,
        tflite,
        check.keypoints[index : index + 1],
        check.masks[index : index + 1],
        precision=quantization,
        where=f"worst failing {check.name} example: {where}; {summarise(check.masks[index])}",
    )


def op_localisation(
    tflite: TFLiteModel,
    checks: list[Check],
    quantization: str,
    fp32_reference: Callable[[], Path],
) -> OpTable | None:
    """The per-op table of a failing signature, on the example ``divergence_text`` uses.

    The reference is the same file in the LiteRT installed here, unless that is the runtime
    that failed or no operator departs from it (the file itself is wrong): then the
    checkpoint's fp32 export (``fp32_reference()``), matched by tensor name. None when no
    input-dependent check failed.
    """
    found = failing_example(checks)
    if found is None:
        return None
    check, index = found
    keypoints, masks = check.keypoints[index : index + 1], check.masks[index : index + 1]
    args = dict(signature=tflite.signature_key, precision=quantization)
    table = None
    if tflite.runtime != REFERENCE_RUNTIME:
        table = localise(tflite.path, tflite.runtime, keypoints, masks, **args)
    if table is None or table.first is None:
        reference = fp32_reference()
        table = localise(
            tflite.path, tflite.runtime, keypoints, masks, reference_path=reference, **args
        )
    return table


# ---------------------------------------------------------------- report


@dataclass
class SignatureCheck:
    """What verify found for one signature of the file."""

    tflite: TFLiteModel
    checks: list[Check]
    divergence: str | None = None
    oracle: tuple[float, float] | None = None
    op_table: OpTable | None = None

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def where(self) -> str:
        """How output and reports name it: the signature, if the file has several."""
        return self.tflite.signature.name


def bundle_checks(
    results: list[SignatureCheck], *, quantization: str, seed: int, judge_outside: bool = False
) -> None:
    """Between neighbouring buckets of one file, the ``bucket`` check: L frames in the seq_L
    signature against the same frames right-padded into the next longer (added to the
    longer)."""
    ordered = sorted(results, key=lambda result: result.tflite.seq_len)
    for short, long in zip(ordered, ordered[1:], strict=False):
        batch = Batch(
            *bucket_inputs(
                np.random.default_rng(seed + 3),
                count=2 * len(BUCKET_MASK_KINDS),
                seq_len=short.tflite.seq_len,
                num_keypoints=short.tflite.signature.num_keypoints,
                keypoint_kinds=keypoint_kinds_for(tolerance_for(quantization, long.tflite.runtime)),
            )
        )
        subject = Subject(None, long.tflite, quantization, shorter=short.tflite)
        long.checks.append(run_check("bucket", subject, batch, judge_outside=judge_outside))


def oracle_errors(model: SignBart, tflite: TFLiteModel, keypoints, masks) -> tuple[float, float]:
    """(PyTorch fp32, TFLite) max abs error against the float64 copy of the model."""
    exact = torch_logits(float64_oracle(model), keypoints, masks)
    return errors_to_oracle(torch_logits(model, keypoints, masks), tflite(keypoints, masks), exact)


# ---------------------------------------------------------------- command


def real_inputs(samples, tflite: TFLiteModel, config: SignBartConfig):
    return preprocessed_samples(
        samples, seq_len=tflite.seq_len, num_keypoints=config.min_input_keypoints
    )


def verify_signature(
    model: SignBart,
    tflite: TFLiteModel,
    *,
    quantization: str,
    examples: int,
    seed: int,
    samples: list[Path],
    oracle: bool,
    judge_outside: bool = False,
) -> SignatureCheck:
    """Every check of one signature, on seeded inputs at its seq_len (+ real samples);
    ``oracle`` also measures both fp32 implementations against a float64 copy, on the
    examples that decide the verdict."""
    width = tflite.signature.num_keypoints
    keypoints, masks, descriptions = example_batch(
        np.random.default_rng(seed),
        count=examples,
        seq_len=tflite.seq_len,
        num_keypoints=width,
        keypoint_kinds=keypoint_kinds_for(tolerance_for(quantization, tflite.runtime)),
    )
    real = real_inputs(samples, tflite, model.config) if samples else None
    checks = run_checks(
        model,
        tflite,
        quantization=quantization,
        keypoints=keypoints,
        masks=masks,
        descriptions=descriptions,
        real=real,
        seed=seed,
        judge_outside=judge_outside,
    )
    keep = judged(masks, judge_outside=judge_outside)
    errors = oracle_errors(model, tflite, keypoints[keep], masks[keep]) if oracle else None
    return SignatureCheck(tflite, checks, oracle=errors)


def verify_files(
    files: list[TFLiteModel],
    model: SignBart,
    *,
    quantization: str,
    examples: int,
    seed: int,
    samples: Sequence[Path] = (),
    oracle: bool = False,
    judge_outside: bool = False,
) -> list[SignatureCheck]:
    """Every signature of one file in one runtime build (``files``: a runner per signature),
    with the bundle checks: what ``verify`` measures on one target, and what ``repair``
    judges each candidate with (examples outside the app contract judged only with
    ``judge_outside``)."""
    results = [
        verify_signature(
            model,
            tflite,
            quantization=quantization,
            examples=examples,
            seed=seed,
            samples=list(samples),
            oracle=oracle,
            judge_outside=judge_outside,
        )
        for tflite in files
    ]
    if len(results) > 1:
        bundle_checks(results, quantization=quantization, seed=seed, judge_outside=judge_outside)
    return results

"""``signbart-parity verify``: does this .tflite file compute what this checkpoint computes?

The file's seq_len and signature are read from the file itself. The checks are the gate's
properties (``properties.py``) on seeded inputs that cycle every keypoint kind x mask kind,
plus any real samples:

- parity: logits agree with PyTorch's under the precision's tolerance;
- real-sample: the same on the real samples given;
- padding: values in padded frames never change the logits;
- determinism: the same input twice gives identical logits;
- bucket: L = seq_len // 2 frames right-padded into the file give PyTorch's L-frame logits;
- bundle (files with a signature per bucket): L frames in the seq_L signature and the same
  frames right-padded into the next longer signature give the same logits.

Every signature of a multi-signature file is checked with every property, and has its own
row in the output and the report; a fault in one signature fails the file and names it.
When a check fails, the first diverging stage is localised in the file's own intermediate
tensors (``divergence.py``), and the first departing operator on the same example
(``ops.py``, ``op_localisation``). With ``--baseline`` the shipped file is compared with this one:
contract changes fail; prediction flips on golden-style inputs fail above ``--max-flip-rate``.

The command (``cli/verify.py``) prints and reports what these checks find.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.checks.compare import Comparison
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.inputs.masks import BUCKET_MASK_KINDS, summarise

# The runtime op-level localisation takes as the reference: the build installed here.
REFERENCE_RUNTIME = "litert"

if TYPE_CHECKING:
    from signbart_parity.checks.ops import OpTable
    from signbart_parity.model.config import SignBartConfig
    from signbart_parity.model.signbart import SignBart
    from signbart_parity.runtime.run.tflite import TFLiteModel


@dataclass
class Check:
    """One property's verdict plus per-example detail (for the report and localisation)."""

    name: str
    comparison: Comparison
    masks: np.ndarray
    keypoints: np.ndarray  # the inputs the file was run on (scrambled ones for padding)
    example_err: np.ndarray  # max |difference| per example
    example_ok: np.ndarray
    descriptions: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.comparison.passed


def _check(name: str, comparison: Comparison, keypoints, masks, descriptions) -> Check:
    """A property's verdict with the per-example detail its comparison already holds."""
    return Check(
        name,
        comparison,
        np.asarray(masks),
        keypoints,
        comparison.example_abs_err,
        comparison.example_passed,
        list(descriptions),
    )


# ---------------------------------------------------------------- the properties


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
) -> list[Check]:
    """Run every property over the inputs; each Check holds its Comparison and detail."""
    from signbart_parity.checks import properties
    from signbart_parity.inputs.generators import keypoint_kinds_for

    tolerance = tolerance_for(quantization, tflite.runtime)
    checks = []

    result = properties.logits_parity(model, tflite, tolerance, keypoints, masks)
    checks.append(_check("parity", result, keypoints, masks, descriptions))

    if real is not None and len(real[0]):
        real_keypoints, real_masks, real_descriptions = real
        result = properties.logits_parity(model, tflite, tolerance, real_keypoints, real_masks)
        checks.append(_check("real-sample", result, real_keypoints, real_masks, real_descriptions))

    valid = masks.sum(axis=1)
    padded = (valid >= 1) & (valid < masks.shape[1])
    if padded.any():
        kp, mk = keypoints[padded], masks[padded]
        texts = [d for d, keep in zip(descriptions, padded, strict=True) if keep]
        result = properties.padding_invariance(
            tflite, tolerance, kp, mk, np.random.default_rng(seed + 1)
        )
        # The same scrambled inputs the property ran (same seed): localisation reruns one.
        scrambled = properties.scramble_padding(kp, mk, np.random.default_rng(seed + 1))
        checks.append(_check("padding", result, scrambled, mk, texts))

    result = properties.determinism(tflite, keypoints, masks)
    checks.append(_check("determinism", result, keypoints, masks, descriptions))

    seq_len = tflite.seq_len
    short = seq_len // 2
    if short >= 1:
        kp, mk, texts = bucket_inputs(
            np.random.default_rng(seed + 2),
            count=max(len(BUCKET_MASK_KINDS), len(masks) // 3),
            seq_len=short,
            num_keypoints=keypoints.shape[2],
            keypoint_kinds=keypoint_kinds_for(tolerance),
        )
        runner = properties.TorchRunner(model, short)
        # Top-1 agreement over a batch is the parity check's job; here each example is judged
        # by the bound alone (a flip passes only on a near-tie), so a few bucket examples
        # of a quantized file do not fail on one excusable flip.
        per_example = tolerance.per_example()
        result = properties.bucket_consistency(tflite, runner, per_example, kp, mk)
        long_kp, long_mk = properties.right_pad(kp, mk, tflite.seq_len)
        texts = [f"{t}, {short} frames padded to {seq_len}" for t in texts]
        checks.append(_check("bucket", result, long_kp, long_mk, texts))
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
    from signbart_parity.inputs.generators import batch_of

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
    order = ("parity", "real-sample", "padding", "bucket")
    failed = [c for name in order for c in checks if c.name == name and not c.passed]
    if not failed:
        return None
    return failed[0], worst_example(failed[0])


def divergence_text(model, tflite: TFLiteModel, checks: list[Check], quantization: str) -> str:
    """The first diverging stage, on the worst example of the first failing
    input-dependent check, in the checked signature, through the runtime it was checked with."""
    from signbart_parity.checks.divergence import divergence_line

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
    from signbart_parity.checks.ops import localise

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


def bundle_checks(results: list[SignatureCheck], *, quantization: str, seed: int) -> None:
    """Between the buckets of one file: L frames in the seq_L signature give the logits of
    the same frames right-padded into the next longer signature (added to the longer)."""
    from signbart_parity.checks import properties
    from signbart_parity.inputs.generators import keypoint_kinds_for

    ordered = sorted(results, key=lambda result: result.tflite.seq_len)
    tolerance = tolerance_for(quantization, ordered[0].tflite.runtime if ordered else None)
    for short, long in zip(ordered, ordered[1:], strict=False):
        kp, mk, texts = bucket_inputs(
            np.random.default_rng(seed + 3),
            count=2 * len(BUCKET_MASK_KINDS),
            seq_len=short.tflite.seq_len,
            num_keypoints=short.tflite.signature.num_keypoints,
            keypoint_kinds=keypoint_kinds_for(tolerance),
        )
        result = properties.bucket_consistency(
            long.tflite, short.tflite, tolerance.per_example(), kp, mk
        )
        padded_kp, padded_mk = properties.right_pad(kp, mk, long.tflite.seq_len)
        texts = [f"{t}, {short.where} padded into {long.where}" for t in texts]
        long.checks.append(_check("bundle", result, padded_kp, padded_mk, texts))


def oracle_errors(model: SignBart, tflite: TFLiteModel, keypoints, masks) -> tuple[float, float]:
    """(PyTorch fp32, TFLite) max abs error against the float64 copy of the model."""
    from signbart_parity.checks.reference import float64_oracle, oracle_errors, torch_logits

    exact = torch_logits(float64_oracle(model), keypoints, masks)
    return oracle_errors(torch_logits(model, keypoints, masks), tflite(keypoints, masks), exact)


# ---------------------------------------------------------------- command


def real_inputs(samples, tflite: TFLiteModel, config: SignBartConfig):
    from signbart_parity.inputs.samples import preprocessed_samples

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
) -> SignatureCheck:
    """Every property of one signature, on seeded inputs at its seq_len (+ real samples);
    ``oracle`` also measures both fp32 implementations against a float64 copy."""
    from signbart_parity.inputs.generators import example_batch, keypoint_kinds_for

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
    )
    errors = oracle_errors(model, tflite, keypoints, masks) if oracle else None
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
) -> list[SignatureCheck]:
    """Every signature of one file in one runtime build (``files``: a runner per signature),
    with the bundle checks: what ``verify`` measures on one target, and what ``repair``
    judges each candidate with."""
    results = [
        verify_signature(
            model,
            tflite,
            quantization=quantization,
            examples=examples,
            seed=seed,
            samples=list(samples),
            oracle=oracle,
        )
        for tflite in files
    ]
    if len(results) > 1:
        bundle_checks(results, quantization=quantization, seed=seed)
    return results

"""``signbart-parity verify``: does this .tflite file compute what this checkpoint computes?

The file's seq_len and signature are read from the file itself. The checks are the gate's
properties (``properties.py``) on seeded inputs that cycle every keypoint kind x mask kind,
plus any real samples:

- parity: logits agree with PyTorch's under the precision's tolerance;
- real-sample: the same on the real samples given;
- padding: values in padded frames never change the logits;
- determinism: the same input twice gives identical logits;
- bucket: L = seq_len // 2 frames right-padded into the file give PyTorch's L-frame logits.

When a check fails, the first diverging stage is localised in the file's own intermediate
tensors (``divergence.py``). With ``--baseline`` the shipped file is compared with this one:
contract changes fail; prediction flips on golden-style inputs fail above ``--max-flip-rate``.

Exit codes: 0 parity holds, 1 violated, 2 bad input.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.compare import Comparison
from signbart_parity.errors import TFLiteFileError
from signbart_parity.masks import summarise
from signbart_parity.report_model import VERSUS_PYTORCH
from signbart_parity.tolerances import tolerance_for

if TYPE_CHECKING:
    from signbart_parity.baseline import BaselineResult
    from signbart_parity.config import SignBartConfig
    from signbart_parity.model import SignBart
    from signbart_parity.report_model import Report
    from signbart_parity.runtime import TFLiteModel

Progress = Callable[[str], None]
# Mask kinds that stay meaningful when L frames are right-padded to the file's seq_len.
BUCKET_MASK_KINDS = ("all-valid", "right-padded", "holes", "single-frame")


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
    from signbart_parity import properties
    from signbart_parity.inputs import keypoint_kinds_for

    tolerance = tolerance_for(quantization)
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
    from signbart_parity.inputs import make_keypoints, make_mask

    keypoints, masks, texts = [], [], []
    for index in range(count):
        keypoint_kind = keypoint_kinds[index % len(keypoint_kinds)]
        mask_kind = BUCKET_MASK_KINDS[index % len(BUCKET_MASK_KINDS)]
        keypoints.append(
            make_keypoints(keypoint_kind, rng, seq_len=seq_len, num_keypoints=num_keypoints)
        )
        masks.append(make_mask(mask_kind, rng, seq_len=seq_len))
        texts.append(f"{keypoint_kind} keypoints, {mask_kind} mask")
    return np.stack(keypoints), np.stack(masks), texts


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


def localise(model: SignBart, tflite_path: Path, checks: list[Check], quantization: str):
    """Divergence of the first failing input-dependent check, or None when all pass."""
    from signbart_parity.divergence import localise_in_file

    order = ("parity", "real-sample", "padding", "bucket")
    failed = [c for name in order for c in checks if c.name == name and not c.passed]
    if not failed:
        return None, None
    check = failed[0]
    index = worst_example(check)
    divergence = localise_in_file(
        model,
        tflite_path,
        check.keypoints[index : index + 1],
        check.masks[index : index + 1],
        precision=quantization,
    )
    where = check.descriptions[index] if index < len(check.descriptions) else f"example {index}"
    mask = summarise(check.masks[index])
    return divergence, f"worst failing {check.name} example: {where}; {mask}"


# ---------------------------------------------------------------- report


def build_report(
    *,
    checks: list[Check],
    tflite: TFLiteModel,
    quantization: str,
    config_path: Path,
    checkpoint_path: Path,
    checkpoint_layout: str,
    config: SignBartConfig,
    oracle: tuple[float, float] | None,
    divergence: str | None,
    baseline: tuple[Path, BaselineResult] | None,
    duration: float,
) -> Report:
    """The parity report of this file: one row (this file on its runtime), one outcome per
    check (and the baseline comparison, if any)."""
    from signbart_parity.report_model import Outcome, Report, Row, Target, file_ref
    from signbart_parity.tolerances import TOLERANCES
    from signbart_parity.versions import environment

    target = Target(tflite.seq_len, quantization, tflite.runtime)
    row = Row(target, file=str(tflite.path), size_bytes=tflite.path.stat().st_size)
    for check in checks:
        row.add(
            check.name,
            check.comparison,
            check.masks,
            descriptions=check.descriptions,
            oracle_err=oracle[0] if oracle and check.name == "parity" else None,
            tflite_oracle_err=oracle[1] if oracle and check.name == "parity" else None,
        )
    row.divergence = divergence
    outcomes = [
        Outcome(
            f"verify {tflite.path}::{check.name}",
            "passed" if check.passed else "failed",
            check=check.name,
            target=target,
            message="" if check.passed else check.comparison.message().split("\n", 1)[0],
        )
        for check in checks
    ]
    if baseline is not None:
        path, result = baseline
        outcomes.append(
            Outcome(
                f"verify {tflite.path}::baseline",
                "passed" if result.passed else "failed",
                check="baseline",
                target=target,
                message="" if result.passed else "; ".join(result.lines(path)[1:]),
            )
        )
    return Report(
        kind="verify",
        checkpoint=file_ref(checkpoint_path, layout=checkpoint_layout),
        config=file_ref(config_path, values=config.to_dict()),
        environment=environment(),
        tolerances={quantization: TOLERANCES[quantization].describe()},
        rows=[row],
        outcomes=outcomes,
        duration_s=round(duration, 2),
        contract=tflite.signature.to_dict(),
    )


def oracle_errors(model: SignBart, tflite: TFLiteModel, keypoints, masks) -> tuple[float, float]:
    """(PyTorch fp32, TFLite) max abs error against the float64 copy of the model."""
    from signbart_parity.parity import float64_oracle, torch_logits

    exact = torch_logits(float64_oracle(model), keypoints, masks)
    torch_err = float(np.abs(torch_logits(model, keypoints, masks) - exact).max())
    tflite_err = float(np.abs(tflite(keypoints, masks) - exact).max())
    return torch_err, tflite_err


# ---------------------------------------------------------------- command


def _check_line(check: Check) -> str:
    c = check.comparison
    verdict = "PASS" if c.passed else "FAIL"
    top1 = f", top-1 {c.top1_agreement:.1%}" if check.name in VERSUS_PYTORCH else ""
    failing = f", {c.failing_examples} failing" if c.failing_examples else ""
    return (
        f"  {check.name:<19} {verdict}  {c.examples:>4} examples, max abs err "
        f"{c.max_abs_err:.3g} ({c.bound_ratio:.3g}x bound){top1}{failing}"
    )


def verify_command(args: argparse.Namespace, *, progress: Progress) -> int:
    from signbart_parity.baseline import compare_with_baseline
    from signbart_parity.checkpoint import load_model
    from signbart_parity.convert import check_quantization, precision_label
    from signbart_parity.default_model import resolve_model_paths
    from signbart_parity.inputs import example_batch, keypoint_kinds_for
    from signbart_parity.properties import contract_problems
    from signbart_parity.runtime import TFLiteModel
    from signbart_parity.samples import preprocessed_samples, sample_paths

    started = time.perf_counter()
    quantization = check_quantization(args.quantization)
    # Cheap input checks first, so a bad path fails before PyTorch loads.
    tflite = TFLiteModel(args.tflite, runtime=args.runtime)
    baseline = (
        TFLiteModel(args.baseline, runtime=args.runtime) if args.baseline is not None else None
    )
    samples = sample_paths(args.samples)
    config_path, checkpoint_path = resolve_model_paths(args.config, args.checkpoint)
    loaded = load_model(config_path, checkpoint_path)
    model, config = loaded.model, loaded.config
    problems = contract_problems(tflite.signature, config, batch_size=tflite.batch_size)
    if problems:
        raise TFLiteFileError(
            f"{args.tflite}: the file does not fit {config_path} ({'; '.join(problems)}); "
            "verify it against the config and checkpoint it was exported from."
        )
    seq_len, width = tflite.seq_len, config.min_input_keypoints
    kinds = keypoint_kinds_for(tolerance_for(quantization))
    keypoints, masks, descriptions = example_batch(
        np.random.default_rng(args.seed),
        count=args.examples,
        seq_len=seq_len,
        num_keypoints=width,
        keypoint_kinds=kinds,
    )
    real = preprocessed_samples(samples, seq_len=seq_len, num_keypoints=width) if samples else None
    progress(
        f"checking {args.tflite} (seq_len {seq_len}, {quantization}) on {len(masks)} generated "
        f"examples{f' and {len(samples)} real samples' if samples else ''}"
    )
    checks = run_checks(
        model,
        tflite,
        quantization=quantization,
        keypoints=keypoints,
        masks=masks,
        descriptions=descriptions,
        real=real,
        seed=args.seed,
    )
    passed = all(check.passed for check in checks)
    divergence_text = None

    precision = precision_label(quantization)
    print(
        f"verify {args.tflite} ({tflite.runtime} runtime): seq_len {seq_len}, {precision}, "
        f"{tflite.signature.describe()}"
    )
    for warning in tflite.signature.warnings():
        print(f"  warning: {warning}")
    print(
        f"  against {checkpoint_path} ({loaded.layout}) with {config_path}; tolerance "
        f"[{tolerance_for(quantization).describe()}]"
    )
    for check in checks:
        print(_check_line(check))
    if not passed:
        failing = [check.name for check in checks if not check.passed]
        print(f"PARITY VIOLATED: failing properties: {', '.join(failing)}")
        divergence_text = _divergence_text(model, Path(args.tflite), checks, quantization)
        print(divergence_text)
        hint = precision_hint(Path(args.tflite), quantization)
        if hint:
            print(hint)
    else:
        print("parity holds")

    baseline_result = None
    if baseline is not None:
        baseline_result = compare_with_baseline(
            baseline, tflite, real=real, max_flip_rate=args.max_flip_rate
        )
        print("\n".join(baseline_result.lines(Path(args.baseline))))
        if not baseline_result.passed:
            print("BASELINE CHECK FAILED")

    report = build_report(
        checks=checks,
        tflite=tflite,
        quantization=quantization,
        config_path=config_path,
        checkpoint_path=checkpoint_path,
        checkpoint_layout=loaded.layout,
        config=config,
        oracle=(
            oracle_errors(model, tflite, keypoints, masks)
            if quantization == "none" and args.report is not None
            else None
        ),
        divergence=divergence_text,
        baseline=(Path(args.baseline), baseline_result) if baseline_result else None,
        duration=time.perf_counter() - started,
    )
    if args.report is not None:
        from signbart_parity.report import write_report

        paths = write_report(report, args.report)
        print(f"report: {paths['parity.html']}")
    return 0 if report.passed else 1


def precision_hint(path: Path, quantization: str) -> str | None:
    """A hint when the file's weights suggest another --quantization than the one given."""
    if quantization != "none":
        return None
    from ai_edge_litert.interpreter import Interpreter

    try:
        dtypes = {np.dtype(d["dtype"]).name for d in Interpreter(str(path)).get_tensor_details()}
    except (ValueError, RuntimeError):
        return None
    if "int8" in dtypes:
        return "hint: the file holds int8 tensors; pass the --quantization it was exported with."
    if "float16" in dtypes:
        return "hint: the file holds float16 tensors; pass --quantization fp16."
    return None


def _divergence_text(model, tflite_path: Path, checks: list[Check], quantization: str) -> str:
    try:
        divergence, where = localise(model, tflite_path, checks, quantization)
    except Exception as exc:  # localisation is a diagnosis; never let it hide the verdict
        return f"divergence localisation failed ({type(exc).__name__}: {exc})"
    if divergence is None:
        return "no input-dependent check failed; divergence not localised"
    return f"{divergence.summary()} [{where}]"

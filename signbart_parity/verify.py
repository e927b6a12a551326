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


def localise(
    model: SignBart,
    tflite_path: Path,
    checks: list[Check],
    quantization: str,
    signature: str | None = None,
):
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
        signature=signature,
    )
    where = check.descriptions[index] if index < len(check.descriptions) else f"example {index}"
    mask = summarise(check.masks[index])
    return divergence, f"worst failing {check.name} example: {where}; {mask}"


# ---------------------------------------------------------------- report


@dataclass
class SignatureCheck:
    """What verify found for one signature of the file."""

    tflite: TFLiteModel
    checks: list[Check]
    divergence: str | None = None
    oracle: tuple[float, float] | None = None

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
    from signbart_parity import properties
    from signbart_parity.inputs import keypoint_kinds_for

    tolerance = tolerance_for(quantization)
    ordered = sorted(results, key=lambda result: result.tflite.seq_len)
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


def build_report(
    *,
    results: list[SignatureCheck],
    quantization: str,
    config_path: Path,
    checkpoint_path: Path,
    checkpoint_layout: str,
    config: SignBartConfig,
    baseline: tuple[Path, BaselineResult] | None,
    duration: float,
) -> Report:
    """The parity report of this file: a row per signature (on its runtime), an outcome
    per check of each signature, and the baseline comparison, if any."""
    from signbart_parity.report_model import Outcome, Report, Row, Target, file_ref
    from signbart_parity.tolerances import TOLERANCES
    from signbart_parity.versions import environment

    rows, outcomes = [], []
    path = results[0].tflite.path
    for found in results:
        tflite = found.tflite
        target = Target(tflite.seq_len, quantization, tflite.runtime)
        row = Row(target, file=str(path), size_bytes=path.stat().st_size)
        row.divergence = found.divergence
        prefix = f"verify {path}::" + (f"{found.where}::" if len(results) > 1 else "")
        for check in found.checks:
            oracle = found.oracle if check.name == "parity" else None
            row.add(
                check.name,
                check.comparison,
                check.masks,
                descriptions=check.descriptions,
                oracle_err=oracle[0] if oracle else None,
                tflite_oracle_err=oracle[1] if oracle else None,
            )
            outcomes.append(
                Outcome(
                    prefix + check.name,
                    "passed" if check.passed else "failed",
                    check=check.name,
                    target=target,
                    message="" if check.passed else check.comparison.message().split("\n", 1)[0],
                )
            )
        rows.append(row)
    if baseline is not None:
        baseline_path, result = baseline
        outcomes.append(
            Outcome(
                f"verify {path}::baseline",
                "passed" if result.passed else "failed",
                check="baseline",
                message="" if result.passed else result.summary(),
            )
        )
    return Report(
        kind="verify",
        checkpoint=file_ref(checkpoint_path, layout=checkpoint_layout),
        config=file_ref(config_path, values=config.to_dict()),
        environment=environment(),
        tolerances={quantization: TOLERANCES[quantization].describe()},
        rows=rows,
        outcomes=outcomes,
        duration_s=round(duration, 2),
        contract={
            found.where or "serving_default": found.tflite.signature.to_dict() for found in results
        },
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
    from signbart_parity.baseline import compare_files
    from signbart_parity.checkpoint import load_model
    from signbart_parity.convert import check_quantization, precision_label
    from signbart_parity.default_model import resolve_model_paths
    from signbart_parity.runtime import TFLiteModel
    from signbart_parity.samples import sample_paths

    started = time.perf_counter()
    quantization = check_quantization(args.quantization)
    # Cheap input checks first, so a bad path fails before PyTorch loads.
    files = [
        TFLiteModel(args.tflite, runtime=args.runtime, signature=name)
        for name in TFLiteModel.names_in(args.tflite)
    ]
    baseline = None
    if args.baseline is not None:
        baseline = [
            TFLiteModel(args.baseline, runtime=args.runtime, signature=name)
            for name in TFLiteModel.names_in(args.baseline)
        ]
    samples = sample_paths(args.samples)
    config_path, checkpoint_path = resolve_model_paths(args.config, args.checkpoint)
    loaded = load_model(config_path, checkpoint_path)
    model, config = loaded.model, loaded.config
    for tflite in files:
        _check_fits(tflite, config, config_path, args.tflite)

    names = ", ".join(f.signature.name for f in files)
    progress(
        f"checking {args.tflite} ({len(files)} signature{'s' * (len(files) > 1)}: {names}; "
        f"{quantization}) on {args.examples} generated examples per signature"
        + (f" and {len(samples)} real samples" if samples else "")
    )
    results = [
        verify_signature(model, tflite, quantization=quantization, args=args, samples=samples)
        for tflite in files
    ]
    if len(results) > 1:
        bundle_checks(results, quantization=quantization, seed=args.seed)

    bundle = len(files) > 1
    what = f"{len(files)} signatures ({names})" if bundle else f"seq_len {files[0].seq_len}"
    print(
        f"verify {args.tflite} ({args.runtime} runtime): {what}, "
        f"{precision_label(quantization)}"
        + ("" if bundle else f", {files[0].signature.describe()}")
    )
    print(
        f"  against {checkpoint_path} ({loaded.layout}) with {config_path}; tolerance "
        f"[{tolerance_for(quantization).describe()}]"
    )
    for found in results:
        _print_signature(found, bundle=bundle)
    failing = [found for found in results if not found.passed]
    for found in failing:
        _localise_failure(model, found, quantization, bundle=bundle)
    if failing:
        hint = precision_hint(Path(args.tflite), quantization)
        if hint:
            print(hint)
    else:
        print("parity holds")

    baseline_result = None
    if baseline is not None:
        real = _real_inputs(samples, files[0], config) if samples and not bundle else None
        baseline_result = compare_files(
            baseline, files, real=real, max_flip_rate=args.max_flip_rate
        )
        print("\n".join(baseline_result.lines(Path(args.baseline))))
        if not baseline_result.passed:
            print("BASELINE CHECK FAILED")

    report = build_report(
        results=results,
        quantization=quantization,
        config_path=config_path,
        checkpoint_path=checkpoint_path,
        checkpoint_layout=loaded.layout,
        config=config,
        baseline=(Path(args.baseline), baseline_result) if baseline_result else None,
        duration=time.perf_counter() - started,
    )
    if args.report is not None:
        from signbart_parity.report import write_report

        paths = write_report(report, args.report)
        print(f"report: {paths['parity.html']}")
    return 0 if report.passed else 1


def _check_fits(tflite: TFLiteModel, config: SignBartConfig, config_path: Path, path) -> None:
    from signbart_parity.properties import contract_problems

    problems = contract_problems(tflite.signature, config, batch_size=tflite.batch_size)
    if problems:
        where = f" (signature {tflite.signature.name})" if tflite.signature.name else ""
        raise TFLiteFileError(
            f"{path}{where}: the file does not fit {config_path} ({'; '.join(problems)}); "
            "verify it against the config and checkpoint it was exported from."
        )


def _real_inputs(samples, tflite: TFLiteModel, config: SignBartConfig):
    from signbart_parity.samples import preprocessed_samples

    return preprocessed_samples(
        samples, seq_len=tflite.seq_len, num_keypoints=config.min_input_keypoints
    )


def verify_signature(
    model: SignBart, tflite: TFLiteModel, *, quantization: str, args, samples
) -> SignatureCheck:
    """Every property of one signature, on seeded inputs at its seq_len (+ real samples)."""
    from signbart_parity.inputs import example_batch, keypoint_kinds_for

    width = tflite.signature.num_keypoints
    keypoints, masks, descriptions = example_batch(
        np.random.default_rng(args.seed),
        count=args.examples,
        seq_len=tflite.seq_len,
        num_keypoints=width,
        keypoint_kinds=keypoint_kinds_for(tolerance_for(quantization)),
    )
    real = _real_inputs(samples, tflite, model.config) if samples else None
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
    oracle = None
    if quantization == "none" and args.report is not None:
        oracle = oracle_errors(model, tflite, keypoints, masks)
    return SignatureCheck(tflite, checks, oracle=oracle)


def _print_signature(found: SignatureCheck, *, bundle: bool) -> None:
    if bundle:
        print(f"signature {found.where}: {found.tflite.signature.describe()}")
    for warning in found.tflite.signature.warnings():
        print(f"  warning: {warning}")
    for check in found.checks:
        print(_check_line(check))


def _localise_failure(model, found: SignatureCheck, quantization: str, *, bundle: bool) -> None:
    failing = ", ".join(check.name for check in found.checks if not check.passed)
    where = f" in signature {found.where}" if bundle else ""
    print(f"PARITY VIOLATED{where}: failing properties: {failing}")
    found.divergence = _divergence_text(
        model,
        found.tflite.path,
        found.checks,
        quantization,
        signature=found.where if bundle else None,
    )
    print(found.divergence)


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


def _divergence_text(
    model, tflite_path: Path, checks: list[Check], quantization: str, signature=None
) -> str:
    try:
        divergence, where = localise(model, tflite_path, checks, quantization, signature)
    except Exception as exc:  # localisation is a diagnosis; never let it hide the verdict
        return f"divergence localisation failed ({type(exc).__name__}: {exc})"
    if divergence is None:
        return "no input-dependent check failed; divergence not localised"
    return f"{divergence.summary()} [{where}]"

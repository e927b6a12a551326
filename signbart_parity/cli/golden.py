"""``signbart-parity golden create`` and ``golden check`` (the file format: docs/golden.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from signbart_parity.checks.golden import (
    Golden,
    check_buckets,
    check_golden,
    create_golden,
    failing_rows,
    golden_provenance,
    load_goldens,
)
from signbart_parity.cli import common
from signbart_parity.cli.preprocessing import add_check_preprocessing
from signbart_parity.model.default import resolve_model_paths
from signbart_parity.options import add_to_cli
from signbart_parity.outputs import output_file
from signbart_parity.reports.row import tally_of
from signbart_parity.reports.text import outside_heading, outside_line
from signbart_parity.runtime.read.precision import judged_precision
from signbart_parity.runtime.run.tflite import TFLiteModel
from signbart_parity.targets import precision_label


def add_parser(commands) -> None:
    golden = commands.add_parser("golden", help="create or check a golden-logits .npz file")
    actions = golden.add_subparsers(dest="golden_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="store fixed inputs with PyTorch logits")
    common.add_model_options(create)
    common.add_seq_len_option(
        create,
        required=True,
        buckets=True,
        what="frames per sequence of the golden inputs (the length of the file it will check)",
    )
    create.add_argument(
        "--output",
        "-o",
        type=Path,
        required=True,
        metavar="NPZ",
        help="where to write the golden .npz (written atomically)",
    )
    common.add_samples_option(create, "real .pkl samples or folders of them to include")
    common.add_output_options(create)
    create.set_defaults(handler=lambda args: create_command(args, progress=common.progress))
    check = actions.add_parser("check", help="compare a .tflite file with a golden .npz")
    check.add_argument(
        "--tflite", type=Path, required=True, metavar="TFLITE", help="the .tflite file to check"
    )
    check.add_argument(
        "--golden",
        type=Path,
        required=True,
        metavar="NPZ",
        help="the golden .npz made by `golden create` for the same model and seq_len",
    )
    common.add_file_precision_option(check)
    common.add_runtime_option(check)
    add_to_cli(check, "judge-outside-contract")
    common.add_output_options(check)
    check.set_defaults(handler=check_command)
    add_check_preprocessing(actions)


def create_command(args: argparse.Namespace, *, progress) -> int:
    config_path, checkpoint_path = resolve_model_paths(args.config, args.checkpoint)
    args.output = output_file(args.output, inputs=(config_path, checkpoint_path, *args.samples))
    goldens = create_golden(
        config_path=config_path,
        checkpoint_path=checkpoint_path,
        seq_len=args.seq_len,
        output=args.output,
        samples=args.samples,
        progress=progress,
    )
    first = goldens[0]
    real = len(first.metadata["real_samples"])
    lengths = ",".join(str(golden.seq_len) for golden in goldens)
    print(
        f"wrote {args.output}: {len(first.logits)} rows{' per bucket' * (len(goldens) > 1)} "
        f"({first.metadata['generated_rows']} generated, {real} real) at seq_len {lengths}, "
        f"{first.logits.shape[1]} labels"
    )
    vectors = first.metadata["preprocessing_vectors"]
    print(f"wrote {args.output.with_name(vectors['file'])}: {vectors['clips']} raw clips")
    return 0


def check_command(args: argparse.Namespace) -> int:
    """Every signature of the file against the golden bucket of its seq_len."""
    goldens = {golden.seq_len: golden for golden in load_goldens(args.golden)}
    names = TFLiteModel.names_in(args.tflite)
    args.quantization, precision_line = judged_precision(args.tflite, args.quantization)
    provenance = golden_provenance(args.tflite, next(iter(goldens.values())), args.golden)
    print("\n".join(provenance.lines()))  # up front: a stale file needs re-exporting
    print(precision_line)
    files = [TFLiteModel(args.tflite, runtime=args.runtime, signature=name) for name in names]
    files = _counterexample_signature(files, goldens)
    check_buckets(files, goldens, Path(args.tflite), Path(args.golden))
    passed = True
    for tflite in files:
        passed &= _check_one(tflite, goldens[tflite.seq_len], args, bundle=len(files) > 1)
    if provenance.stale:
        print(f"STALE: re-export {args.tflite} (the rows above ran on other weights)")
    return 0 if passed and not provenance.stale else 1


def _counterexample_signature(files: list, goldens: dict) -> list:
    """A corpus counterexample (one seq_len, docs/golden.md) checks only the bundle's
    signature of its seq_len; without one, check_buckets names the mismatch."""
    (golden, *others) = goldens.values()
    if others or "counterexample" not in golden.metadata:
        return files
    return [tflite for tflite in files if tflite.seq_len == golden.seq_len] or files


def _check_one(tflite, golden: Golden, args: argparse.Namespace, *, bundle: bool) -> bool:
    found = check_golden(
        tflite, golden, args.quantization, judge_outside=args.judge_outside_contract
    )
    result = found.result
    skipped = found.out_of_range
    not_judged = f", {skipped} outside the precision's input range not run" if skipped else ""
    where = f" signature {tflite.signature.name}" if bundle else ""
    print(
        f"golden check of {args.tflite}{where} ({tflite.runtime} runtime) against "
        f"{args.golden} ({len(golden.logits)} rows{not_judged}):"
    )
    for warning in tflite.signature.warnings():
        print(f"  warning: {warning}")

    words = result.comparison.message(precision_label(args.quantization))
    print("  " + words.replace("\n", "\n  "))
    if result.outside is not None:
        print(f"  {outside_heading()} (--judge-outside-contract judges them):")
        print(f"    {outside_line(result.name, tally_of(result.outside))}")
    print(f"  max abs err against the float64 oracle: {found.oracle_err:.3g}")
    for line in failing_rows(result)[:10]:
        print(f"  {line}")
    return result.passed

"""``signbart-parity evaluate``: accuracy of PyTorch and each TFLite precision on a dataset.

Every precision runs on the same preprocessed samples (``checks/accuracy.py``); besides
accuracy it reports how often its top-1 agrees with PyTorch's, the largest logit
difference, and a confusion matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from signbart_parity.checks.accuracy import REFERENCE, calibration_for, score, tflite_results
from signbart_parity.checks.reference import torch_logits
from signbart_parity.cli import common
from signbart_parity.inputs.dataset import load_dataset
from signbart_parity.model.default import load_model_or_default, resolve_model_paths
from signbart_parity.options import add_to_cli
from signbart_parity.outputs import output_folder
from signbart_parity.reports.evaluate import write_reports


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "evaluate", help="accuracy of PyTorch and each TFLite precision on a labelled dataset"
    )
    common.add_model_options(parser)
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="DIR",
        help="class folders of .pkl samples, optional label2id.json",
    )
    common.add_seq_len_option(parser)
    add_to_cli(parser, "quantization")
    add_to_cli(parser, "report", help="write evaluate.json and evaluate.html into DIR")
    common.add_output_options(parser)
    parser.set_defaults(
        handler=lambda args: evaluate_command(
            config=args.config,
            checkpoint=args.checkpoint,
            data=args.data,
            seq_len=args.seq_len,
            quantizations=args.quantization,
            report=args.report,
            progress=common.progress,
        )
    )


def evaluate_command(
    *,
    config: Path | None,
    checkpoint: Path | None,
    data: Path,
    seq_len: int,
    quantizations: Sequence[str],
    report: Path | None,
    progress,
) -> int:
    config_path, checkpoint_path = resolve_model_paths(config, checkpoint)
    if report is not None:
        report = output_folder(
            report, inputs=(config_path, checkpoint_path), files=("evaluate.json", "evaluate.html")
        )
    model, model_config = load_model_or_default(config_path, checkpoint_path, progress=progress)
    model_config.check_seq_lens(seq_len)
    dataset = load_dataset(
        data,
        seq_len=seq_len,
        num_keypoints=model_config.min_input_keypoints,
        num_labels=model_config.num_labels,
        progress=progress,
    )
    for skipped in dataset.skipped:
        progress(f"skipped {skipped.file}: {skipped.reason}")
    progress(f"running PyTorch on {len(dataset.files)} samples")
    reference = torch_logits(model, dataset.keypoints, dataset.masks)
    num_labels = model_config.num_labels
    results = {REFERENCE: score(dataset.labels, reference, reference, num_labels)}
    calibration = None
    if "static-int8" in quantizations:
        calibration = calibration_for(model_config, seq_len, dataset.files)
        progress(f"calibrating static-int8 on {calibration.describe()}")
    results |= tflite_results(
        model, dataset, reference, seq_len, quantizations, calibration, progress
    )

    summary = {
        "dataset": str(dataset.root),
        "config": str(config_path),
        "checkpoint": str(checkpoint_path),
        "seq_len": seq_len,
        "samples": len(dataset.files),
        "classes": [dataset.class_names.get(i, str(i)) for i in range(num_labels)],
        "skipped": [{"file": s.file, "reason": s.reason} for s in dataset.skipped],
        "calibration": calibration.to_dict() if calibration else None,
        "files": [Path(f).relative_to(dataset.root).as_posix() for f in dataset.files],
        "labels": dataset.labels.tolist(),
        "results": results,
    }
    print("\n".join(summary_lines(summary)))
    if report is not None:
        for path in write_reports(report, summary):
            print(f"wrote {path}")
    return 0


def summary_lines(summary: dict) -> list[str]:
    """The human-readable result table."""
    lines = [
        f"{summary['samples']} samples from {summary['dataset']} at seq_len {summary['seq_len']}"
        f" ({len(summary['skipped'])} skipped)"
    ]
    for skipped in summary["skipped"]:
        lines.append(f"  skipped {skipped['file']}: {skipped['reason']}")
    if summary["calibration"]:
        calibration = summary["calibration"]
        lines.append(f"static-int8 calibrated on {calibration['count']} {calibration['source']}")
    lines.append(
        f"{'precision':<18}{'accuracy':>10}{'agree w/ torch':>16}{'max |dlogit|':>14}"
        "  within tolerance"
    )
    for precision, result in summary["results"].items():
        verdict = {True: "  yes", False: "  NO", None: ""}[result.get("within_tolerance")]
        lines.append(
            f"{precision:<18}{result['accuracy']:>10.1%}"
            f"{result['agreement_with_pytorch']:>16.1%}{result['max_abs_logit_diff']:>14.3g}"
            + verdict
        )
    return lines

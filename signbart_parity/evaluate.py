"""``signbart-parity evaluate``: accuracy of PyTorch and each TFLite precision on a dataset.

Every precision runs on the same preprocessed samples; besides accuracy it reports how
often its top-1 agrees with PyTorch's, the largest logit difference, and a confusion matrix.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

Progress = Callable[[str], None]
REFERENCE = "pytorch"


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> np.ndarray:
    """(num_labels, num_labels) counts: rows are true labels, columns predictions."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def score(labels: np.ndarray, logits: np.ndarray, reference: np.ndarray, num_labels: int) -> dict:
    """Accuracy, agreement with the reference logits, and the confusion matrix."""
    predictions = logits.argmax(-1)
    return {
        "accuracy": float((predictions == labels).mean()),
        "agreement_with_pytorch": float((predictions == reference.argmax(-1)).mean()),
        "max_abs_logit_diff": float(np.abs(logits - reference).max()),
        "confusion_matrix": confusion_matrix(labels, predictions, num_labels).tolist(),
        "predictions": predictions.tolist(),
    }


def evaluate_command(
    *,
    config: Path | None,
    checkpoint: Path | None,
    data: Path,
    seq_len: int,
    quantizations: Sequence[str],
    report: Path | None,
    progress: Progress,
) -> int:
    from signbart_parity.convert import check_seq_len
    from signbart_parity.dataset import load_dataset
    from signbart_parity.default_model import load_model_or_default, resolve_model_paths
    from signbart_parity.parity import torch_logits

    config_path, checkpoint_path = resolve_model_paths(config, checkpoint)
    model, model_config = load_model_or_default(config_path, checkpoint_path, progress=progress)
    check_seq_len(model_config, seq_len)
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
        calibration = _calibration(model_config, seq_len, dataset.files)
        progress(f"calibrating static-int8 on {calibration.describe()}")
    results |= _tflite_results(
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
        from signbart_parity.evaluate_report import write_reports

        for path in write_reports(report, summary):
            print(f"wrote {path}")
    return 0


def _calibration(model_config, seq_len: int, files: list[Path]):
    from signbart_parity.calibration import calibration_set

    # Spread over the classes: the dataset's files are sorted by class folder.
    step = max(1, len(files) // 64)
    return calibration_set(model_config, seq_len, samples=files[::step])


def _tflite_results(model, dataset, reference, seq_len, quantizations, calibration, progress):
    from signbart_parity.compare import compare_logits
    from signbart_parity.precisions import convert_precisions
    from signbart_parity.runtime import TFLiteModel
    from signbart_parity.tolerances import tolerance_for

    results = {}
    with tempfile.TemporaryDirectory(prefix="signbart-evaluate-") as scratch:
        files = convert_precisions(
            model,
            seq_len=seq_len,
            quantizations=quantizations,
            directory=Path(scratch),
            calibration=calibration,
            progress=progress,
        )
        for precision, converted in files.items():
            progress(f"running TFLite {precision} on {len(dataset.files)} samples")
            logits = TFLiteModel(converted.path)(dataset.keypoints, dataset.masks)
            result = score(dataset.labels, logits, reference, model.config.num_labels)
            parity = compare_logits(reference, logits, tolerance_for(converted.quantization))
            results[precision] = result | {
                "size_bytes": converted.size_bytes,
                "within_tolerance": parity.passed,
                "tolerance": parity.tolerance,
            }
    return results


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

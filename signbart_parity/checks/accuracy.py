"""``signbart-parity evaluate``: accuracy of PyTorch and each TFLite precision on a dataset.

Every precision runs on the same preprocessed samples; besides accuracy it reports how
often its top-1 agrees with PyTorch's, the largest logit difference, and a confusion matrix.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from signbart_parity.checks.compare import compare_logits
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.export.exporter import Exporter
from signbart_parity.inputs.calibration import calibration_set
from signbart_parity.runtime.run.tflite import TFLiteModel

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


def calibration_for(model_config, seq_len: int, files: list[Path]):
    # Spread over the classes: the dataset's files are sorted by class folder.
    step = max(1, len(files) // 64)
    return calibration_set(model_config, seq_len, samples=files[::step])


def tflite_results(model, dataset, reference, seq_len, quantizations, calibration, progress):
    results = {}
    with tempfile.TemporaryDirectory(prefix="signbart-evaluate-") as scratch:
        exporter = Exporter(
            model,
            directory=Path(scratch),
            calibrate=(lambda lengths: {seq_len: calibration}) if calibration else None,
            progress=progress,
        )
        files = exporter.export_all(seq_len, quantizations)
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

"""What each CLI command does, apart from argument parsing (``cli.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

Progress = Callable[[str], None]


def describe_signature(signature) -> list[str]:
    """The app contract, one line per tensor, naming the role of each input."""
    lines = []
    for position, spec in enumerate(signature.inputs):
        role = "keypoints" if len(spec.shape) == 4 else "attention_mask (1 = valid frame)"
        lines.append(f"  input {position}: {spec.name}  {spec.dtype}{list(spec.shape)}  {role}")
    for position, spec in enumerate(signature.outputs):
        lines.append(f"  output {position}: {spec.name}  {spec.dtype}{list(spec.shape)}  logits")
    return lines


def convert_command(
    *,
    config: Path | None,
    checkpoint: Path | None,
    output: Path,
    seq_len: int,
    quantization: str,
    test: bool,
    progress: Progress,
) -> int:
    from signbart_parity.calibration import calibration_set
    from signbart_parity.convert import check_seq_len, convert, precision_label
    from signbart_parity.default_model import load_model_or_default
    from signbart_parity.parity import FIXED_INPUT_NAMES, fixed_inputs
    from signbart_parity.properties import logits_parity
    from signbart_parity.runtime import TFLiteModel
    from signbart_parity.tolerances import SEED_CHECK, tolerance_for

    model, model_config = load_model_or_default(config, checkpoint, progress=progress)
    check_seq_len(model_config, seq_len)
    calibration = None
    if quantization == "static-int8":
        calibration = calibration_set(model_config, seq_len)
        progress(f"calibrating static-int8 on {calibration.describe()}")
    result = convert(
        model,
        seq_len=seq_len,
        output=output,
        quantization=quantization,
        calibration=calibration.inputs if calibration else None,
        progress=progress,
    )
    precision = precision_label(quantization)
    print(
        f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB, {precision}, "
        f"seq_len {seq_len}, converted in {result.seconds:.1f} s)"
    )

    tflite = TFLiteModel(result.path)
    keypoints, masks = fixed_inputs(model_config.min_input_keypoints, seq_len)
    tolerance = SEED_CHECK if quantization == "none" else tolerance_for(quantization)
    comparison = logits_parity(model, tflite, tolerance, keypoints, masks)
    print(f"checked against PyTorch on {len(masks)} inputs ({', '.join(FIXED_INPUT_NAMES)}):")
    print("  " + comparison.message().replace("\n", "\n  "))
    if test:
        _smoke_test(tflite, model_config.min_input_keypoints)
    return 0 if comparison else 1


def _smoke_test(tflite, num_keypoints: int) -> None:
    rng = np.random.default_rng()
    keypoints = rng.random((1, tflite.seq_len, num_keypoints, 2), dtype=np.float32)
    logits = tflite(keypoints, np.ones((1, tflite.seq_len), dtype=np.int64))[0]
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    best = int(np.argmax(probabilities))
    print(
        f"test run ({tflite.runtime} runtime, random input, all frames valid): "
        f"predicted class {best} with confidence {probabilities[best]:.3f}"
    )
    print("signature (what an app must pass):")
    print("\n".join(describe_signature(tflite.signature)))
    mask_dtype = tflite.signature.attention_mask.dtype
    note = "" if mask_dtype == "int64" else " (not int64: the converter narrowed it)"
    print(f"  -> pass the attention mask as {mask_dtype}{note}.")

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
    seq_len: tuple[int, ...],
    quantization: str,
    test: bool,
    progress: Progress,
) -> int:
    """Convert; check every signature of the file against PyTorch on fixed inputs."""
    from signbart_parity.calibration import as_quantizer_inputs, calibration_sets
    from signbart_parity.convert import check_seq_len, convert, precision_label
    from signbart_parity.default_model import load_model_or_default
    from signbart_parity.parity import FIXED_INPUT_NAMES, fixed_inputs
    from signbart_parity.properties import logits_parity
    from signbart_parity.runtime import TFLiteModel
    from signbart_parity.tolerances import SEED_CHECK, tolerance_for

    model, model_config = load_model_or_default(config, checkpoint, progress=progress)
    for length in seq_len:
        check_seq_len(model_config, length)
    calibration = None
    if quantization == "static-int8":
        calibration = calibration_sets(model_config, seq_len)
        progress(f"calibrating static-int8 on {calibration[seq_len[0]].describe()} per bucket")
    result = convert(
        model,
        seq_len=seq_len,
        output=output,
        quantization=quantization,
        calibration=as_quantizer_inputs(calibration),
        progress=progress,
    )
    precision = precision_label(quantization)
    lengths = ",".join(map(str, seq_len))
    print(
        f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB, {precision}, "
        f"seq_len {lengths}, converted in {result.seconds:.1f} s)"
    )
    tolerance = SEED_CHECK if quantization == "none" else tolerance_for(quantization)
    passed = True
    for name in result.signatures:
        tflite = TFLiteModel(result.path, signature=name)
        keypoints, masks = fixed_inputs(model_config.min_input_keypoints, tflite.seq_len)
        comparison = logits_parity(model, tflite, tolerance, keypoints, masks)
        where = f"signature {name} " if len(result.signatures) > 1 else ""
        print(
            f"checked {where}against PyTorch on {len(masks)} inputs "
            f"({', '.join(FIXED_INPUT_NAMES)}):"
        )
        print("  " + comparison.message().replace("\n", "\n  "))
        passed &= comparison.passed
        if test:
            _smoke_test(tflite, model_config.min_input_keypoints)
    return 0 if passed else 1


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
    name = f" {tflite.signature.name}" if tflite.signature.name else ""
    print(f"signature{name} (what an app must pass):")
    print("\n".join(describe_signature(tflite.signature)))
    mask_dtype = tflite.signature.attention_mask.dtype
    note = "" if mask_dtype == "int64" else " (not int64: the converter narrowed it)"
    print(f"  -> pass the attention mask as {mask_dtype}{note}.")

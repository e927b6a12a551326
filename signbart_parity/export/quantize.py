"""Quantized files derived from an fp32 export: the recipe per precision, calibration for
static-int8 (per bucket for a bundle), and compaction of quantized bundles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.errors import ConversionError, ToolchainError
from signbart_parity.export.flatbuffer import compact
from signbart_parity.export.recipes import apply_recipe
from signbart_parity.fileio import atomic_path
from signbart_parity.quiet import notices_dropped
from signbart_parity.runtime.read.signature import signature_name
from signbart_parity.runtime.run.tflite import TFLiteModel

if TYPE_CHECKING:
    from signbart_parity.export.recipes import Recipe

# Part of every cache key (cache.py): bump it whenever a quantization recipe below changes,
# so files quantized by the old recipe are never served again.
RECIPE_VERSION = 2

Calibration = Sequence[tuple[np.ndarray, np.ndarray]]


def _quantizer_setup(quantization: str):
    from ai_edge_quantizer import qtyping, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    def fp16(quantizer) -> None:
        quantizer.add_weight_only_config(
            regex=".*",
            operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
            num_bits=16,
            algorithm_key=AlgorithmName.FLOAT_CASTING,
        )

    def static_int8(quantizer) -> None:
        # Linear layers only, and not the classifier head (the output tensor). Quantizing
        # every activation (recipe.static_wi8_ai8) puts the additive padding mask (-3.4e38)
        # and the attention scores in one int8 range, which flattens attention (top-1
        # agreement 1-17%); an int8 head alone costs ~15% of the logit scale. See tolerances.py.
        quantizer.add_static_config(
            regex="^(?!serving_default_output).*$",
            operation_name=qtyping.TFLOperationName.FULLY_CONNECTED,
            activation_num_bits=8,
            weight_num_bits=8,
        )

    recipes = {
        "dynamic-int8": recipe.dynamic_wi8_afp32,
        "weight-only-int8": recipe.weight_only_wi8_afp32,
    }
    if quantization == "fp16":
        return fp16
    if quantization == "static-int8":
        return static_int8
    return lambda quantizer: quantizer.load_quantization_recipe(recipes[quantization]())


def quantize_file(
    fp32_path: Path,
    *,
    output: Path,
    quantization: str,
    calibration: Calibration | Mapping[int, Calibration] | None = None,
    recipe: Recipe | None = None,
) -> None:
    """Derive a quantized file from an fp32 one; ``calibration`` feeds static modes: the
    inputs of a single-signature file, or of each bucket of a bundle keyed by seq_len.
    ``recipe`` (``export/recipes.py``, what ``repair`` found) replaces the mode's own."""
    from ai_edge_quantizer import quantizer as aeq

    quantizer = aeq.Quantizer(str(fp32_path))
    if recipe is not None:
        apply_recipe(quantizer, recipe)
    else:
        _quantizer_setup(quantization)(quantizer)
    if quantizer.need_calibration and not calibration:
        raise ConversionError(
            f"quantization {quantization} needs calibration inputs; pass representative samples."
        )
    if isinstance(calibration, Mapping):
        feeds = {signature_name(t): [_feed(*pair) for pair in c] for t, c in calibration.items()}
    else:
        feeds = {"serving_default": [_feed(*pair) for pair in calibration or ()]}
    try:
        # calibrate() and quantize() draw progress bars whatever enable_progress_bar says
        # (ai-edge-quantizer 0.10 does not pass it on); quiet mode drops them.
        with notices_dropped():
            calibration_result = None
            if quantizer.need_calibration:
                calibration_result = quantizer.calibrate(feeds)
            result = quantizer.quantize(
                calibration_result, enable_progress_bar=False, enable_progress_report=False
            )
    except Exception as exc:
        raise ToolchainError.caused_by(
            f"ai-edge-quantizer could not produce {quantization} for this model", exc
        ) from exc
    with atomic_path(output) as temp:
        temp.write_bytes(bytes(result.quantized_model))
        if len(TFLiteModel.names_in(fp32_path)) > 1:
            compact(temp)  # the quantizer repeats per-channel parameters per signature


def _feed(keypoints: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "args_0": np.asarray(keypoints, dtype=np.float32),
        "args_1": np.asarray(attention_mask, dtype=np.int32),
    }

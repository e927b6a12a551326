"""Convert a SignBart model to a .tflite file per seq_len, optionally quantized.

litert-torch exports a static graph, so each seq_len is its own file. Quantized files are
derived from the fp32 file with ai-edge-quantizer; a mode the toolchain cannot produce
raises ``ConversionError`` and never falls back to fp32.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.config import SignBartConfig
from signbart_parity.errors import ConversionError
from signbart_parity.fileio import atomic_path
from signbart_parity.quiet import notices_dropped
from signbart_parity.signature import Signature

if TYPE_CHECKING:
    import torch

    from signbart_parity.model import SignBart

QUANTIZATIONS = ("none", "fp16", "dynamic-int8", "weight-only-int8", "static-int8")
# Part of every cache key (cache.py): bump it whenever a quantization recipe below changes,
# so files quantized by the old recipe are never served again.
RECIPE_VERSION = 2
# Inputs go to the converter positionally, so the file keeps the order and names the seed's
# apps already use: args_0 = keypoints, args_1 = attention_mask. (Named inputs would be
# sorted alphabetically by the converter, silently putting the mask first.)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConversionResult:
    path: Path
    seq_len: int
    quantization: str
    size_bytes: int
    seconds: float
    signature: Signature


def precision_label(quantization: str) -> str:
    """How reports and messages name a precision: ``none`` is ``fp32``, others as is."""
    return "fp32" if quantization == "none" else str(quantization)


def check_seq_len(config: SignBartConfig, seq_len: int) -> int:
    if not 1 <= seq_len <= config.max_position_embeddings:
        raise ConversionError(
            f"seq_len {seq_len} is outside 1..{config.max_position_embeddings} "
            "(max_position_embeddings in the config); choose a length in that range."
        )
    return seq_len


def check_quantization(quantization: str) -> str:
    if quantization not in QUANTIZATIONS:
        raise ConversionError(
            f"quantization {quantization!r} is unknown; choose one of {', '.join(QUANTIZATIONS)}."
        )
    return quantization


def _export_module(model: SignBart) -> torch.nn.Module:
    """A module returning the logits tensor alone (the converter cannot output ``None``)."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: SignBart) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, keypoints: torch.Tensor, attention_mask: torch.Tensor):
            return self.inner(keypoints, attention_mask)[1]

    return LogitsOnly(model).eval()


def sample_inputs(config: SignBartConfig, seq_len: int, batch_size: int = 1) -> tuple:
    """(keypoints, mask) fixing the exported shapes; the mask is int64 as the published code."""
    import torch

    generator = torch.Generator().manual_seed(0)
    keypoints = torch.rand(batch_size, seq_len, config.min_input_keypoints, 2, generator=generator)
    return keypoints, torch.ones(batch_size, seq_len, dtype=torch.int64)


@contextlib.contextmanager
def _quiet_converter() -> Iterator[None]:
    """Silence litert-torch's own progress log; callers report progress themselves."""
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def export_fp32(model: SignBart, *, seq_len: int, output: Path, batch_size: int = 1) -> None:
    """Convert ``model`` at a fixed seq_len and write the fp32 flatbuffer atomically."""
    with _quiet_converter():
        import litert_torch

        inputs = sample_inputs(model.config, seq_len, batch_size)
        try:
            converted = litert_torch.convert(_export_module(model), inputs)
        except Exception as exc:  # the converter raises many types; report them as one
            raise ConversionError(
                f"litert-torch could not convert the model at seq_len {seq_len}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        with atomic_path(output) as temp:
            temp.write_bytes(converted.model_content())


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
    calibration: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> None:
    """Derive a quantized file from an fp32 one; ``calibration`` feeds static modes."""
    from ai_edge_quantizer import quantizer as aeq

    quantizer = aeq.Quantizer(str(fp32_path))
    _quantizer_setup(quantization)(quantizer)
    if quantizer.need_calibration and not calibration:
        raise ConversionError(
            f"quantization {quantization} needs calibration inputs; pass representative samples."
        )
    try:
        # calibrate() and quantize() draw progress bars whatever enable_progress_bar says
        # (ai-edge-quantizer 0.10 does not pass it on); quiet mode drops them.
        with notices_dropped():
            calibration_result = None
            if quantizer.need_calibration:
                calibration_result = quantizer.calibrate(
                    {"serving_default": [_feed(kp, mask) for kp, mask in calibration]}
                )
            result = quantizer.quantize(
                calibration_result, enable_progress_bar=False, enable_progress_report=False
            )
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(
            f"ai-edge-quantizer cannot produce {quantization} for this model "
            f"({type(exc).__name__}: {exc}); choose another quantization."
        ) from exc
    with atomic_path(output) as temp:
        temp.write_bytes(bytes(result.quantized_model))


def _feed(keypoints: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "args_0": np.asarray(keypoints, dtype=np.float32),
        "args_1": np.asarray(attention_mask, dtype=np.int32),
    }


def convert(
    model: SignBart,
    *,
    seq_len: int,
    output: str | Path,
    quantization: str = "none",
    batch_size: int = 1,
    calibration: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    progress: Progress | None = None,
) -> ConversionResult:
    """Convert ``model`` to ``output`` (.tflite) and report the exported signature.

    Raises:
        ConversionError: seq_len out of range, unknown quantization, or a toolchain failure.
            ``output`` is never left half-written.
    """
    from signbart_parity.runtime import TFLiteModel

    check_seq_len(model.config, seq_len)
    check_quantization(quantization)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    started = time.perf_counter()
    if quantization == "none":
        say(f"converting to fp32 at seq_len {seq_len}")
        export_fp32(model, seq_len=seq_len, output=output, batch_size=batch_size)
    else:
        # The fp32 intermediate lives in a scratch folder beside the output and goes away.
        with tempfile.TemporaryDirectory(dir=output.parent, prefix=".convert-") as scratch:
            fp32_path = Path(scratch) / "fp32.tflite"
            say(f"converting to fp32 at seq_len {seq_len}")
            export_fp32(model, seq_len=seq_len, output=fp32_path, batch_size=batch_size)
            say(f"quantizing ({quantization})")
            quantize_file(
                fp32_path, output=output, quantization=quantization, calibration=calibration
            )
    signature = TFLiteModel(output).signature
    return ConversionResult(
        path=output,
        seq_len=seq_len,
        quantization=quantization,
        size_bytes=output.stat().st_size,
        seconds=time.perf_counter() - started,
        signature=signature,
    )

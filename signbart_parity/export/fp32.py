"""The fp32 conversion: litert-torch exports a SignBart model at one seq_len, or a bundle
of several, to a .tflite file (every other precision is derived from it, ``quantize.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.errors import ConversionError, ToolchainError
from signbart_parity.export.bundle import as_seq_lens
from signbart_parity.export.flatbuffer import compact
from signbart_parity.fileio import atomic_path
from signbart_parity.model.config import SignBartConfig
from signbart_parity.quiet import converter_quieted
from signbart_parity.runtime.read.signature import signature_name
from signbart_parity.targets import QUANTIZATIONS

if TYPE_CHECKING:
    import torch

    from signbart_parity.model.signbart import SignBart

# Inputs go to the converter positionally, so the file keeps the order and names the seed's
# apps already use: args_0 = keypoints, args_1 = attention_mask. (Named inputs would be
# sorted alphabetically by the converter, silently putting the mask first.)

Progress = Callable[[str], None]


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


def export_fp32(
    model: SignBart, *, seq_len: int | Sequence[int], output: Path, batch_size: int = 1
) -> None:
    """Convert ``model`` and write the fp32 flatbuffer atomically.

    One seq_len gives a single-signature file (``serving_default``); several give a bundle
    with a ``seq_<T>`` signature per length (``bundle.py``), compacted (``flatbuffer.py``).
    """
    seq_lens = as_seq_lens(seq_len)
    with converter_quieted():
        import litert_torch

        module = _export_module(model)
        try:
            if len(seq_lens) == 1:
                inputs = sample_inputs(model.config, seq_lens[0], batch_size)
                converted = litert_torch.convert(module, inputs)
            else:
                builder = litert_torch
                for length in seq_lens:
                    inputs = sample_inputs(model.config, length, batch_size)
                    builder = builder.signature(signature_name(length), module, inputs)
                converted = builder.convert()
        except Exception as exc:  # the converter raises many types; report them as one
            raise ToolchainError.caused_by(
                f"litert-torch could not convert the model at seq_len "
                f"{','.join(map(str, seq_lens))}",
                exc,
            ) from exc
        with atomic_path(output) as temp:
            temp.write_bytes(converted.model_content())
            if len(seq_lens) > 1:
                compact(temp)

"""Convert a SignBart model to a .tflite file per seq_len, optionally quantized.

litert-torch exports a static graph, so each seq_len is its own file. Quantized files are
derived from the fp32 file with ai-edge-quantizer; a mode the toolchain cannot produce
raises ``ToolchainError`` and never falls back to fp32.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.errors import ConversionError, ToolchainError
from signbart_parity.export.flatbuffer import compact
from signbart_parity.fileio import atomic_path
from signbart_parity.model.config import SignBartConfig
from signbart_parity.quiet import converter_quieted
from signbart_parity.runtime.read.signature import Signature
from signbart_parity.targets import QUANTIZATIONS

if TYPE_CHECKING:
    import torch

    from signbart_parity.inputs.calibration import CalibrationSet
    from signbart_parity.model.signbart import SignBart

# Inputs go to the converter positionally, so the file keeps the order and names the seed's
# apps already use: args_0 = keypoints, args_1 = attention_mask. (Named inputs would be
# sorted alphabetically by the converter, silently putting the mask first.)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConversionResult:
    path: Path
    seq_lens: tuple[int, ...]
    quantization: str
    size_bytes: int
    seconds: float
    # Signature name -> contract: "serving_default" for one seq_len, "seq_<T>" per bucket.
    signatures: dict[str, Signature]

    @property
    def seq_len(self) -> int:
        """The seq_len of a single-signature file."""
        (seq_len,) = self.seq_lens
        return seq_len

    @property
    def signature(self) -> Signature:
        """The contract of a single-signature file."""
        (signature,) = self.signatures.values()
        return signature


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
    from signbart_parity.export.bundle import as_seq_lens
    from signbart_parity.runtime.read.signature import signature_name

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


def convert(
    model: SignBart,
    *,
    seq_len: int | Sequence[int],
    output: str | Path,
    quantization: str = "none",
    batch_size: int = 1,
    calibration: Mapping[int, CalibrationSet] | None = None,
    progress: Progress | None = None,
) -> ConversionResult:
    """Convert ``model`` to ``output`` (.tflite) and report the exported signatures.

    One seq_len writes a single-signature file; several write one bundle (``bundle.py``)
    with a signature per length. Static-int8 calibrates each bucket on ``calibration``
    (sets keyed by seq_len; default: generated real-like sequences).

    Raises:
        ConversionError: seq_len out of range or unknown quantization (bad input).
        ToolchainError: litert-torch or ai-edge-quantizer failed on this valid model.
            ``output`` is never left half-written.
    """
    from signbart_parity.export.bundle import as_seq_lens
    from signbart_parity.export.exporter import Exporter
    from signbart_parity.outputs import output_file
    from signbart_parity.runtime.run.tflite import TFLiteModel

    seq_lens = as_seq_lens(model.config.check_seq_lens(seq_len))
    check_quantization(quantization)
    output = output_file(output)  # a folder or unwritable path: refused before converting
    output.parent.mkdir(parents=True, exist_ok=True)
    # Intermediate files live in a scratch folder beside the output and go away; the
    # result is renamed into place (same folder, so atomically).
    sweep_scratch(output.parent)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=_scratch_prefix()) as scratch:
        exporter = Exporter(
            model,
            directory=Path(scratch),
            calibrate=(lambda lengths: calibration) if calibration else None,
            batch_size=batch_size,
            progress=progress,
        )
        exported = exporter.export(seq_lens, quantization)
        with atomic_path(output) as temp:
            os.replace(exported.path, temp)
    signatures = {
        name: TFLiteModel(output, signature=name).signature for name in TFLiteModel.names_in(output)
    }
    return ConversionResult(
        path=output,
        seq_lens=seq_lens,
        quantization=quantization,
        size_bytes=output.stat().st_size,
        seconds=exported.seconds,
        signatures=signatures,
    )


# Scratch folders are named for the process that owns them (``.convert-<pid>-XXXX``), so a
# later run can tell the leftovers of a killed one (kill -9 runs no cleanup) from a folder a
# concurrent convert is still using.
_SCRATCH = ".convert-"
_LEGACY_SCRATCH_AGE_S = 3600  # unnamed scratch from older versions: swept after an hour


def _scratch_prefix() -> str:
    return f"{_SCRATCH}{os.getpid()}-"


def sweep_scratch(folder: Path) -> list[Path]:
    """Remove the scratch folders in ``folder`` whose convert no longer runs; the removed."""
    import shutil
    import time

    swept = []
    for path in folder.glob(f"{_SCRATCH}*"):
        owner = path.name[len(_SCRATCH) :].split("-", 1)[0]
        if owner.isdigit():
            orphan = not _process_alive(int(owner))
        else:
            orphan = time.time() - path.stat().st_mtime > _LEGACY_SCRATCH_AGE_S
        if orphan and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            swept.append(path)
    return swept


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True

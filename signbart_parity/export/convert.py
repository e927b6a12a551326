"""The library's ``convert()``: a SignBart model to a .tflite file (one seq_len, or a
bundle of several), optionally quantized, through the one exporter (``exporter.py``).

litert-torch exports a static graph, so each seq_len is its own signature. Quantized files
are derived from the fp32 file with ai-edge-quantizer; a mode the toolchain cannot produce
raises ``ToolchainError`` and never falls back to fp32.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.export.fp32 import Progress, check_quantization
from signbart_parity.fileio import atomic_path
from signbart_parity.runtime.read.signature import Signature

if TYPE_CHECKING:
    from signbart_parity.inputs.calibration import CalibrationSet
    from signbart_parity.model.signbart import SignBart


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
    from signbart_parity.runtime.run.tflite import TFLiteModel

    seq_lens = as_seq_lens(model.config.check_seq_lens(seq_len))
    check_quantization(quantization)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Intermediate files live in a scratch folder beside the output and go away; the
    # result is renamed into place (same folder, so atomically).
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".convert-") as scratch:
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

"""Several precisions of one model from a single fp32 export (used by evaluate and bench).

Quantization names are the converter's (``none`` is fp32); reports use precision labels.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.convert import QUANTIZATIONS, precision_label

if TYPE_CHECKING:
    from signbart_parity.calibration import CalibrationSet
    from signbart_parity.model import SignBart

Progress = Callable[[str], None]


def parse_quantizations(text: str) -> tuple[str, ...]:
    """argparse type for ``none,dynamic-int8,...`` (``fp32`` is accepted for ``none``)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    names = ["none" if name == "fp32" else name for name in names]
    unknown = [name for name in names if name not in QUANTIZATIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown quantization {', '.join(unknown) or repr(text)}; "
            f"choose from {', '.join(QUANTIZATIONS)} (comma-separated)"
        )
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class ConvertedFile:
    quantization: str
    path: Path
    size_bytes: int
    seconds: float  # fp32 export plus this precision's quantization

    @property
    def precision(self) -> str:
        return precision_label(self.quantization)


def convert_precisions(
    model: SignBart,
    *,
    seq_len: int | Sequence[int],
    quantizations: Sequence[str],
    directory: Path,
    calibration: CalibrationSet | dict[int, CalibrationSet] | None = None,
    progress: Progress | None = None,
) -> dict[str, ConvertedFile]:
    """Export fp32 once, derive each quantized file from it; keyed by precision label.

    Several seq_lens make each file a bundle (a signature per length). ``calibration`` feeds
    static-int8: one set, or one per seq_len (``calibration.calibration_sets``).
    """
    from signbart_parity.bundle import as_seq_lens
    from signbart_parity.calibration import as_quantizer_inputs
    from signbart_parity.convert import check_seq_len, export_fp32, quantize_file

    say = progress or (lambda message: None)
    seq_lens = as_seq_lens(seq_len)
    for length in seq_lens:
        check_seq_len(model.config, length)
    directory = Path(directory)
    name = "seq" + "-".join(map(str, seq_lens))
    fp32_path = directory / f"{name}-fp32.tflite"
    say(f"converting to fp32 at seq_len {','.join(map(str, seq_lens))}")
    started = time.perf_counter()
    export_fp32(model, seq_len=seq_lens, output=fp32_path)
    export_seconds = time.perf_counter() - started
    files = {}
    for quantization in quantizations:
        if quantization == "none":
            path, seconds = fp32_path, export_seconds
        else:
            say(f"quantizing ({quantization})")
            started = time.perf_counter()
            path = directory / f"{name}-{quantization}.tflite"
            quantize_file(
                fp32_path,
                output=path,
                quantization=quantization,
                calibration=as_quantizer_inputs(calibration),
            )
            seconds = export_seconds + time.perf_counter() - started
        size = path.stat().st_size
        files[precision_label(quantization)] = ConvertedFile(quantization, path, size, seconds)
    return files

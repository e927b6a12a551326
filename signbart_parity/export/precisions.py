"""Several precisions of one model from a single fp32 export (used by evaluate and bench).

Quantization names are the converter's (``none`` is fp32); reports use precision labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.targets import precision_label

if TYPE_CHECKING:
    from signbart_parity.inputs.calibration import CalibrationSet
    from signbart_parity.model.signbart import SignBart

Progress = Callable[[str], None]


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
    from signbart_parity.export.bundle import as_seq_lens
    from signbart_parity.export.convert import check_seq_len, export_fp32
    from signbart_parity.export.quantize import quantize_file
    from signbart_parity.inputs.calibration import as_quantizer_inputs

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

"""The one way a model becomes .tflite files: fp32 through litert-torch, every other
precision derived from that fp32 file by ai-edge-quantizer, into a folder or the export cache.

``convert()``, ``evaluate``, ``bench`` and the gate all export through ``Exporter``, and
every file it builds carries its provenance stamp (``export/provenance.py``). Sequence
lengths and precisions are validated at the edges (the CLI, the gate's options, the library's
``convert``), not here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.export.bundle import as_seq_lens
from signbart_parity.export.fp32 import export_fp32
from signbart_parity.export.provenance import provenance_of, stamp
from signbart_parity.export.quantize import quantize_file
from signbart_parity.inputs.calibration import (
    as_quantizer_inputs,
    calibration_sets,
    sets_fingerprint,
)
from signbart_parity.model.fingerprint import weights_fingerprint
from signbart_parity.targets import precision_label

if TYPE_CHECKING:
    from signbart_parity.export.cache import ExportCache
    from signbart_parity.inputs.calibration import CalibrationSet
    from signbart_parity.model.signbart import SignBart
    from signbart_parity.runtime.read.provenance import Provenance

Progress = Callable[[str], None]
# Static-int8 calibration for an export: one set per seq_len it holds.
Calibrate = Callable[[tuple[int, ...]], Mapping[int, "CalibrationSet"]]


@dataclass(frozen=True)
class ExportedFile:
    quantization: str
    path: Path
    size_bytes: int
    seconds: float  # building it, its fp32 source included (0 for a cache hit)
    seq_lens: tuple[int, ...] = ()

    @property
    def precision(self) -> str:
        return precision_label(self.quantization)


class Exporter:
    """Exports of one model, each built once: ``export(seq_lens, quantization)``.

    Files go to ``directory`` (named ``seq16-64-fp32.tflite``) or, with ``cache``, to the
    content-keyed export cache. Several seq_lens make one bundle (a signature per length).
    ``calibrate`` gives static-int8 its inputs per seq_len; by default real-like generated
    sequences (``inputs.calibration.calibration_sets``).
    """

    def __init__(
        self,
        model: SignBart,
        *,
        directory: Path | None = None,
        cache: ExportCache | None = None,
        calibrate: Calibrate | None = None,
        batch_size: int = 1,
        progress: Progress | None = None,
    ) -> None:
        if (directory is None) == (cache is None):
            raise ValueError("export into a directory or a cache, exactly one of them")
        self.model = model
        self.directory = Path(directory) if directory is not None else None
        self.cache = cache
        self._calibrate = calibrate or self._generated_calibration
        self.batch_size = batch_size
        self._say = progress or (lambda message: None)
        self._files: dict[tuple[tuple[int, ...], str], ExportedFile] = {}
        self._fingerprint: str | None = None
        self._weights: str | None = None

    def export(self, seq_len: int | Sequence[int], quantization: str) -> ExportedFile:
        """The file holding ``seq_len`` (one length, or a bundle of several) at ``quantization``."""
        lengths = as_seq_lens(seq_len)
        key = (lengths, quantization)
        if key not in self._files:
            self._files[key] = self._build(lengths, quantization)
        return self._files[key]

    def export_all(
        self, seq_len: int | Sequence[int], quantizations: Sequence[str]
    ) -> dict[str, ExportedFile]:
        """Every precision of one export, keyed by precision label (fp32 first if asked)."""
        return {precision_label(q): self.export(seq_len, q) for q in quantizations}

    def calibration(self, seq_len: int | Sequence[int]) -> Mapping[int, CalibrationSet]:
        """The static-int8 calibration sets this exporter uses for ``seq_len``."""
        return self._calibrate(as_seq_lens(seq_len))

    # -- building ------------------------------------------------------------------------
    def _build(self, lengths: tuple[int, ...], quantization: str) -> ExportedFile:
        text = ",".join(map(str, lengths))
        calibration = None
        if quantization == "static-int8":
            calibration = self.calibration(lengths)
        seconds = []  # what building took, its fp32 source included; empty on a cache hit

        def build(path: Path) -> None:
            if quantization == "none":
                self._say(f"converting to fp32 at seq_len {text}")
                started = time.perf_counter()
                export_fp32(self.model, seq_len=lengths, output=path, batch_size=self.batch_size)
                stamp(path, self.provenance(lengths, quantization))
                seconds.append(time.perf_counter() - started)
                return
            # Only on a miss: a cached quantized file needs no fp32 source.
            source = self.export(lengths, "none")
            self._say(f"quantizing ({quantization})")
            started = time.perf_counter()
            quantize_file(
                source.path,
                output=path,
                quantization=quantization,
                calibration=as_quantizer_inputs(calibration),
            )
            # Last: the quantizer copied the fp32 source's stamp into the file.
            stamp(path, self.provenance(lengths, quantization, sets_fingerprint(calibration)))
            seconds.append(source.seconds + time.perf_counter() - started)

        path = self._place(lengths, quantization, calibration, build)
        return ExportedFile(quantization, path, path.stat().st_size, sum(seconds), lengths)

    def _place(self, lengths, quantization, calibration, build: Callable[[Path], None]) -> Path:
        if self.cache is None:
            name = "seq" + "-".join(map(str, lengths)) + f"-{precision_label(quantization)}"
            path = self.directory / f"{name}.tflite"
            build(path)
            return path
        from signbart_parity.export.cache import ExportRequest

        request = ExportRequest(
            fingerprint=self.fingerprint,
            config=self.model.config.to_dict(),
            seq_len=lengths[0] if len(lengths) == 1 else lengths,
            quantization=quantization,
            batch_size=self.batch_size,
            calibration=sets_fingerprint(calibration),
        )
        return self.cache.get(request, build)

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from signbart_parity.export.cache import model_fingerprint

            self._fingerprint = model_fingerprint(self.model)
        return self._fingerprint

    @property
    def weights(self) -> str:
        """The model's ``weights_fingerprint``: what every file's stamp records."""
        if self._weights is None:
            self._weights = weights_fingerprint(self.model)
        return self._weights

    def provenance(
        self, lengths: tuple[int, ...], quantization: str, calibration: str = ""
    ) -> Provenance:
        """The stamp of this model's file at ``lengths`` and ``quantization``."""
        return provenance_of(
            self.model,
            weights=self.weights,
            seq_lens=lengths,
            quantization=quantization,
            batch_size=self.batch_size,
            calibration=calibration,
        )

    def _generated_calibration(self, lengths: tuple[int, ...]) -> Mapping[int, CalibrationSet]:
        return calibration_sets(self.model.config, lengths)

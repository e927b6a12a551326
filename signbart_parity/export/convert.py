"""The library's ``convert()``: a SignBart model to a .tflite file (one seq_len, or a
bundle of several), optionally quantized, through the one exporter (``exporter.py``).

litert-torch exports a static graph, so each seq_len is its own signature. Quantized files
are derived from the fp32 file with ai-edge-quantizer; a mode the toolchain cannot produce
raises ``ToolchainError`` and never falls back to fp32.

With an export cache (``cache.py``, the folder the gate converts into) the file is served
from it when the same model, config, seq_len, precision, calibration and tool versions made
it, and what is converted goes there first; the output is a copy of the cached file, the
same bytes (provenance stamp included) a conversion without the cache writes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.export.bundle import as_seq_lens
from signbart_parity.export.exporter import Exporter
from signbart_parity.export.fp32 import Progress, check_quantization
from signbart_parity.fileio import atomic_path
from signbart_parity.outputs import output_file
from signbart_parity.runtime.read.signature import Signature
from signbart_parity.runtime.run.tflite import TFLiteModel

if TYPE_CHECKING:
    from signbart_parity.export.cache import ExportCache
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
    # The export cache's file it was copied from, when nothing had to be converted.
    cached_from: Path | None = None

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
    cache: ExportCache | str | Path | None = None,
) -> ConversionResult:
    """Convert ``model`` to ``output`` (.tflite) and report the exported signatures.

    One seq_len writes a single-signature file; several write one bundle (``bundle.py``)
    with a signature per length. Static-int8 calibrates each bucket on ``calibration``
    (sets keyed by seq_len; default: generated real-like sequences). With ``cache`` (an
    ``ExportCache`` or its folder) the file comes from the export cache, converted into it
    on a miss; ``cached_from`` names the entry when nothing was converted.

    Raises:
        ConversionError: seq_len out of range or unknown quantization (bad input).
        ToolchainError: litert-torch or ai-edge-quantizer failed on this valid model.
            ``output`` is never left half-written.
    """
    seq_lens = as_seq_lens(model.config.check_seq_lens(seq_len))
    check_quantization(quantization)
    output = output_file(output)  # a folder or unwritable path: refused before converting
    output.parent.mkdir(parents=True, exist_ok=True)
    sweep_scratch(output.parent)  # killed converts' scratch, whichever way this one goes
    options = {
        "calibrate": (lambda lengths: calibration) if calibration else None,
        "batch_size": batch_size,
        "progress": progress,
    }
    if cache is None:
        exported, cached_from = _convert_beside(model, output, seq_lens, quantization, options)
    else:
        exported, cached_from = _serve_from(cache, model, output, seq_lens, quantization, options)
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
        cached_from=cached_from,
    )


def _convert_beside(model, output: Path, seq_lens, quantization, options) -> tuple:
    """Convert in a scratch folder beside ``output`` (it goes away) and rename the result
    into place (same folder, so atomically)."""
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=_scratch_prefix()) as scratch:
        exporter = Exporter(model, directory=Path(scratch), **options)
        exported = exporter.export(seq_lens, quantization)
        with atomic_path(output) as temp:
            os.replace(exported.path, temp)
    return exported, None


def _serve_from(cache, model, output: Path, seq_lens, quantization, options) -> tuple:
    """The export cache's file (converted into it on a miss), copied to ``output``
    atomically; with the entry it came from when nothing was converted."""
    from signbart_parity.export.cache import ExportCache

    store = cache if isinstance(cache, ExportCache) else ExportCache(cache)
    before = store.stats.conversions
    exported = Exporter(model, cache=store, **options).export(seq_lens, quantization)
    with atomic_path(output) as temp:
        shutil.copyfile(exported.path, temp)
    return exported, (exported.path if store.stats.conversions == before else None)


# Scratch folders are named for the process that owns them (``.convert-<pid>-XXXX``), so a
# later run can tell the leftovers of a killed one (kill -9 runs no cleanup) from a folder a
# concurrent convert is still using.
_SCRATCH = ".convert-"
_LEGACY_SCRATCH_AGE_S = 3600  # unnamed scratch from older versions: swept after an hour


def _scratch_prefix() -> str:
    return f"{_SCRATCH}{os.getpid()}-"


def sweep_scratch(folder: Path) -> list[Path]:
    """Remove the scratch folders in ``folder`` whose convert no longer runs; the removed."""
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

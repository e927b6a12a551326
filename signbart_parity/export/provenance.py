"""Stamping a file's provenance (``runtime/read/provenance.py`` reads it back).

``Exporter`` stamps every file it builds, as the last rewrite of the file: after
quantization (ai-edge-quantizer copies its source's metadata, so a quantized file first
carries its fp32 source's stamp, which is replaced) and after bundle compaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.export.flatbuffer import set_metadata
from signbart_parity.runtime.read.provenance import METADATA_NAME, Provenance
from signbart_parity.runtime.read.signature import signature_name
from signbart_parity.versions import installed_version, toolchain_versions

if TYPE_CHECKING:
    from signbart_parity.model.signbart import SignBart


def provenance_of(
    model: SignBart,
    *,
    weights: str,
    seq_lens: Sequence[int],
    quantization: str,
    batch_size: int = 1,
    calibration: str = "",
    recipe: str = "",
) -> Provenance:
    """The stamp of ``model`` exported at ``seq_lens`` and ``quantization``; ``weights`` is
    its ``weights_fingerprint`` (computed once per model by the caller)."""
    lengths = tuple(seq_lens)
    names = (signature_name(t) for t in lengths) if len(lengths) > 1 else ("serving_default",)
    return Provenance(
        weights=weights,
        quantization=quantization,
        seq_lens=lengths,
        signatures=tuple(names),
        num_labels=model.config.num_labels,
        config=model.config.to_dict(),
        versions={"signbart-parity": installed_version("signbart-parity"), **toolchain_versions()},
        batch_size=batch_size,
        calibration=calibration,
        recipe=recipe,
    )


def stamp(path: str | Path, provenance: Provenance) -> None:
    """Write ``provenance`` into ``path``'s metadata (atomically; outputs unchanged)."""
    set_metadata(path, METADATA_NAME, provenance.to_json())

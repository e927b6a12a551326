"""A file's provenance stamp: which weights, config, precision and tool made it.

Every file this tool exports carries one ``Model.metadata`` entry named ``METADATA_NAME``
(next to the converter's own ``min_runtime_version``): a UTF-8 JSON document written by
``export/provenance.py`` after the last rewrite of the file (quantization included). It
changes no tensor, operator or signature, so the file computes bit-identical outputs.
Files made elsewhere have none: their provenance is unknown, never guessed.

Read from the flatbuffer with ``ai_edge_litert.schema_py_generated``, without a runtime.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from signbart_parity.errors import TFLiteFileError
from signbart_parity.limits import MAX_STAMP_BYTES
from signbart_parity.model.fingerprint import short_fingerprint
from signbart_parity.targets import precision_label
from signbart_parity.validate import InvalidDocument, parse_json, validated

METADATA_NAME = "signbart_parity.provenance"
SCHEMA_VERSION = 1
UNKNOWN = "provenance unknown (no stamp)"


@dataclass(frozen=True)
class Provenance:
    """What made a file. ``weights`` is ``model.fingerprint.weights_fingerprint`` of the
    model converted; ``quantization`` the converter's word (``none`` is fp32)."""

    weights: str
    quantization: str
    seq_lens: tuple[int, ...]
    signatures: tuple[str, ...]
    num_labels: int
    config: dict[str, Any]
    versions: dict[str, str]
    batch_size: int = 1
    calibration: str = ""  # static-int8: the calibration sets' content fingerprint
    recipe: str = ""  # the quantizer recipe ``repair`` chose (``export/recipes.py``' text)
    schema: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer schema added

    @property
    def precision(self) -> str:
        return precision_label(self.quantization)

    @property
    def short_weights(self) -> str:
        return short_fingerprint(self.weights)

    @property
    def tool_version(self) -> str:
        return self.versions.get("signbart-parity", "unknown")

    def describe(self) -> str:
        """For people: precision, lengths, labels and the tool that made it."""
        lengths = ",".join(map(str, self.seq_lens))
        return (
            f"{self.precision}, seq_len {lengths}, {self.num_labels} labels, "
            f"made by signbart-parity {self.tool_version}"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        data["precision"] = self.precision
        data["seq_lens"], data["signatures"] = list(self.seq_lens), list(self.signatures)
        return {"schema": data.pop("schema"), **data, **extra}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        """KeyError/TypeError/ValueError when a field this version needs is missing."""
        known = {
            "weights", "quantization", "seq_lens", "signatures", "num_labels", "config",
            "versions", "batch_size", "calibration", "recipe", "schema", "precision",
        }  # fmt: skip
        return cls(
            weights=str(data["weights"]),
            quantization=str(data["quantization"]),
            seq_lens=tuple(int(n) for n in data["seq_lens"]),
            signatures=tuple(str(name) for name in data["signatures"]),
            num_labels=int(data["num_labels"]),
            config=dict(data["config"]),
            versions={str(k): str(v) for k, v in dict(data["versions"]).items()},
            batch_size=int(data.get("batch_size", 1)),
            calibration=str(data.get("calibration", "")),
            recipe=str(data.get("recipe", "")),
            schema=int(data["schema"]),
            extra={key: value for key, value in data.items() if key not in known},
        )


def metadata_entries(path: str | Path) -> dict[str, bytes]:
    """Every ``Model.metadata`` entry of a file, name -> its buffer's bytes; TFLiteFileError
    when the file is missing or not a readable flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    path = Path(path)
    try:
        data = path.read_bytes()
        model = schema.Model.GetRootAsModel(data, 0)
        entries = {}
        for index in range(model.MetadataLength()):
            entry = model.Metadata(index)
            buffer = model.Buffers(entry.Buffer())
            raw = b""
            if buffer.Offset():  # stored after the flatbuffer
                raw = data[buffer.Offset() : buffer.Offset() + buffer.Size()]
            elif buffer.DataLength():
                raw = buffer.DataAsNumpy().tobytes()
            entries[entry.Name().decode("utf-8", errors="replace")] = raw
    except FileNotFoundError:
        raise TFLiteFileError(f"{path}: .tflite file not found; pass an existing file.") from None
    except (OSError, ValueError, IndexError, TypeError, AttributeError) as exc:
        raise TFLiteFileError(
            f"{path}: cannot read its metadata ({type(exc).__name__}); pass a .tflite file."
        ) from None
    return entries


def read_provenance(path: str | Path) -> Provenance | None:
    """The file's stamp, or None for a file made elsewhere (no stamp); TFLiteFileError when
    the file is unreadable or its stamp is damaged."""
    raw = metadata_entries(path).get(METADATA_NAME)
    if raw is None:
        return None
    from signbart_parity.schemas import Stamp

    try:
        data = parse_json(raw, limit=MAX_STAMP_BYTES, name="provenance stamp")
        if isinstance(data, dict) and data.get("schema") == SCHEMA_VERSION:
            validated(Stamp, data, name="provenance stamp")
    except InvalidDocument as exc:
        raise TFLiteFileError(
            f"{path}: its {METADATA_NAME} metadata is damaged: it {exc}; re-export the file "
            "with signbart-parity convert."
        ) from None
    try:
        return Provenance.from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TFLiteFileError(
            f"{path}: its {METADATA_NAME} metadata is damaged (not the JSON document this "
            "tool writes); re-export the file with signbart-parity convert."
        ) from None

"""What a .tflite file is, read from the file: ``signbart-parity inspect``'s document.

Its identity (the provenance stamp, or none for files made elsewhere), its contract (every
signature's inputs and outputs, ``signature.py``), the ``min_runtime_version`` its metadata
claims, the operator codes it uses with their versions, the precision its operators show
(``precision.py``), its size and sha256. Everything but the contract is read from the
flatbuffer without a runtime.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signbart_parity.errors import TFLiteFileError
from signbart_parity.fileio import file_sha256
from signbart_parity.runtime.read.inspect import min_runtime_version
from signbart_parity.runtime.read.operators import builtin_operator_names, operator_name
from signbart_parity.runtime.read.precision import FilePrecision, read_precision
from signbart_parity.runtime.read.provenance import Provenance, metadata_entries, read_provenance
from signbart_parity.runtime.read.signature import Signature
from signbart_parity.runtime.run.tflite import TFLiteModel, check_tflite_file
from signbart_parity.targets import precision_label

NO_PROVENANCE = "no provenance recorded"


@dataclass(frozen=True)
class OperatorVersion:
    name: str  # the builtin operator (FULLY_CONNECTED), or CUSTOM:<code>
    version: int
    uses: int  # operators of this code over every subgraph

    def describe(self) -> str:
        return f"{self.name} v{self.version} (x{self.uses})"


def operator_versions(path: str | Path) -> list[OperatorVersion]:
    """Every operator code of the file with its version and how often it is used."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0)
        uses: Counter = Counter()
        for index in range(model.SubgraphsLength()):
            graph = model.Subgraphs(index)
            for position in range(graph.OperatorsLength()):
                uses[graph.Operators(position).OpcodeIndex()] += 1
        names = builtin_operator_names(schema)
        codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
        found = [
            OperatorVersion(operator_name(code, names), code.Version(), uses[i])
            for i, code in enumerate(codes)
        ]
    except (OSError, ValueError, IndexError, TypeError, AttributeError) as exc:
        raise TFLiteFileError(f"{path}: cannot read its operators ({exc}); re-export it.") from None
    return sorted(found, key=lambda op: (op.name, op.version))


@dataclass(frozen=True)
class FileIdentity:
    """Everything ``inspect`` says about one file."""

    path: Path
    size_bytes: int
    sha256: str
    provenance: Provenance | None
    signatures: tuple[Signature, ...]
    min_runtime_version: str | None
    operators: tuple[OperatorVersion, ...]
    precision: FilePrecision
    metadata: tuple[str, ...]  # the names of its metadata entries

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "provenance": self.provenance.to_dict() if self.provenance else None,
            "signatures": [signature.to_dict() for signature in self.signatures],
            "min_runtime_version": self.min_runtime_version,
            "operators": [
                {"name": op.name, "version": op.version, "uses": op.uses} for op in self.operators
            ],
            "precision": {
                "quantization": self.precision.quantization,
                "label": precision_label(self.precision.quantization),
                "evidence": self.precision.evidence,
            },
            "metadata": list(self.metadata),
        }

    def lines(self) -> list[str]:
        mb = self.size_bytes / 1e6
        lines = [f"{self.path}: {self.size_bytes} bytes ({mb:.2f} MB), sha256 {self.sha256[:16]}"]
        stamp = self.provenance
        if stamp is None:
            lines.append(f"identity: {NO_PROVENANCE} (not made by signbart-parity convert)")
        else:
            lines += [
                f"identity: weights {stamp.short_weights}, {stamp.describe()}",
                f"  weights {stamp.weights}",
                f"  toolchain: {', '.join(f'{k} {v}' for k, v in stamp.versions.items())}",
                f"  config: {_config_line(stamp.config)}",
            ]
            if stamp.recipe:
                lines.append(f"  quantizer recipe (chosen by repair): {stamp.recipe}")
        label = precision_label(self.precision.quantization)
        lines.append(f"precision: {label} (read from the file: {self.precision.evidence})")
        for signature in self.signatures:
            lines.append(f"signature {signature.name or '(none)'}: {signature.describe()}")
            lines += [f"  warning: {warning}" for warning in signature.warnings()]
        lines.append(f"min_runtime_version: {self.min_runtime_version or 'not recorded'}")
        lines.append("operators: " + ", ".join(op.describe() for op in self.operators))
        lines.append(f"metadata: {', '.join(self.metadata) or 'none'}")
        return lines


def _config_line(config: dict[str, Any]) -> str:
    shown = {k: v for k, v in config.items() if k != "joint_idx"}
    joints = config.get("joint_idx") or []
    text = ", ".join(f"{k} {v}" for k, v in shown.items())
    return f"{text}, {len(joints)} joints (max index {max(joints, default='-')})"


def identify(path: str | Path) -> FileIdentity:
    """Read ``path``'s identity; TFLiteFileError when it is missing or not a SignBart file."""
    path = check_tflite_file(path)
    signatures = tuple(
        TFLiteModel(path, signature=name).signature for name in TFLiteModel.names_in(path)
    )
    return FileIdentity(
        path=path,
        size_bytes=path.stat().st_size,
        sha256=file_sha256(path),
        provenance=read_provenance(path),
        signatures=signatures,
        min_runtime_version=min_runtime_version(path),
        operators=tuple(operator_versions(path)),
        precision=read_precision(path),
        metadata=tuple(metadata_entries(path)),
    )

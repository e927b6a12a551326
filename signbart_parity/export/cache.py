"""On-disk cache of exported .tflite files, keyed by content.

The key hashes what determines the file: the model's weights and structure (its state_dict
bytes and ``repr``, which names eps and activation choices), the config, seq_len,
quantization, batch size, the toolchain versions, this tool's own version (which every
file's provenance stamp records, so a served file is byte for byte what a fresh export
would write) and a digest of the code that writes the file (``model/`` and ``export/``: a
checkout between two releases never serves a file its older code wrote). An entry is a
folder holding ``model.tflite`` and ``meta.json`` (with the file's sha256); an entry whose
file does not match its meta is rebuilt, never used. A file lock per key makes concurrent sessions
(``pytest -n 2``) convert each artifact once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from signbart_parity.export.quantize import RECIPE_VERSION
from signbart_parity.fileio import file_sha256, write_json_atomic
from signbart_parity.interrupts import terminate_as_interrupt
from signbart_parity.model.fingerprint import hash_weights
from signbart_parity.versions import installed_version, toolchain_versions

if TYPE_CHECKING:
    from signbart_parity.model.signbart import SignBart

# Bump it whenever what a cached file holds changes, so older entries are never served.
# 2: every file carries its provenance stamp (export/provenance.py).
# 3: the graph LiteRT's GPU computes right (an fp16-safe mask fill, a rank-3 projection).
CACHE_FORMAT = 3


def model_fingerprint(model: SignBart) -> str:
    """sha256 of the model's weights, structure and class: what the export computes."""
    digest = hashlib.sha256()
    digest.update(type(model).__qualname__.encode())
    digest.update(repr(model).encode())
    hash_weights(digest, model.state_dict())
    return digest.hexdigest()


@dataclass(frozen=True)
class ExportRequest:
    fingerprint: str
    config: dict
    seq_len: int | tuple[int, ...]  # several: one bundle file with a signature each
    quantization: str
    batch_size: int = 1
    calibration: str = ""

    def key(self) -> str:
        payload = {
            "format": CACHE_FORMAT,
            "fingerprint": self.fingerprint,
            "config": self.config,
            "seq_len": self.seq_len,
            "quantization": self.quantization,
            "batch_size": self.batch_size,
            "calibration": self.calibration,
            "toolchain": toolchain_versions(),
            "tool": installed_version("signbart-parity"),
            "recipe": RECIPE_VERSION,
            "code": exporting_code_digest(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass
class CacheStats:
    conversions: int = 0
    hits: int = 0
    rebuilt_corrupt: int = 0
    # Which entries were built and which were found: processes sharing one cache (xdist
    # workers) each find the same file, so a run counts files by these, once each.
    built_keys: set[str] = field(default_factory=set)
    hit_keys: set[str] = field(default_factory=set)


class ExportCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.stats = CacheStats()

    def entry(self, request: ExportRequest) -> Path:
        key = request.key()
        return self.root / key[:2] / key

    def get(self, request: ExportRequest, build: Callable[[Path], None]) -> Path:
        """The cached file for ``request``, calling ``build(path)`` only on a miss."""
        entry = self.entry(request)
        entry.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(entry) + ".lock"):
            model_path = entry / "model.tflite"
            if self._is_valid(entry):
                self.stats.hits += 1
                self.stats.hit_keys.add(entry.name)
                return model_path
            if entry.exists():
                self.stats.rebuilt_corrupt += 1
                shutil.rmtree(entry)
            entry.mkdir()
            try:
                with terminate_as_interrupt():
                    build(model_path)
                    write_json_atomic(
                        entry / "meta.json",
                        {
                            "sha256": file_sha256(model_path),
                            "size_bytes": model_path.stat().st_size,
                            "seq_len": request.seq_len,
                            "quantization": request.quantization,
                            "toolchain": toolchain_versions(),
                        },
                    )
            except BaseException:  # a failed or interrupted build leaves no half entry
                shutil.rmtree(entry, ignore_errors=True)
                raise
            self.stats.conversions += 1
            self.stats.built_keys.add(entry.name)
            return model_path

    @staticmethod
    def _is_valid(entry: Path) -> bool:
        model_path, meta_path = entry / "model.tflite", entry / "meta.json"
        try:
            meta = json.loads(meta_path.read_text())
            return (
                model_path.stat().st_size == meta["size_bytes"]
                and file_sha256(model_path) == meta["sha256"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            return False


@functools.cache
def exporting_code_digest() -> str:
    """sha256 of the sources that decide a file's bytes: the model and the exporter."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for source in sorted([*package.glob("model/*.py"), *package.glob("export/*.py")]):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()

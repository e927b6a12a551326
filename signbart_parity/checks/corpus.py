"""The counterexample corpus: every failing example the gate's properties found, kept as a
golden file (docs/golden.md) and replayed on later runs.

A counterexample is saved once hypothesis has shrunk it (the final, minimal example), as a
one-bucket golden ``.npz`` holding its input rows, the PyTorch logits (fp32 and float64),
a description and, in the metadata's ``counterexample`` entry, the target and check it
failed. Files are named by a hash of their inputs, target and check, so the same
counterexample is stored once. ``golden check --golden corpus/x.npz`` replays one anywhere;
the gate replays every one that fits the model, against the current checkpoint (PyTorch
logits recomputed) on its own target, before the other checks of that target.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from signbart_parity.checks.golden import (
    Golden,
    check_golden,
    load_goldens,
    shared_metadata,
    write_goldens,
)
from signbart_parity.checks.reference import float64_oracle, torch_logits
from signbart_parity.errors import GoldenError
from signbart_parity.targets import Target

DEFAULT_FOLDER = "corpus"  # under the gate's cache dir
HYPOTHESIS_FOLDER = "hypothesis"  # hypothesis's own example database, inside the corpus
# Statuses a counterexample can have in one gate run.
STILL_FAILS, PASSES_NOW, NEW = "still fails", "passes now", "new"


@dataclass(frozen=True)
class Counterexample:
    """One stored counterexample: its file, its golden rows and what it failed."""

    path: Path
    golden: Golden

    @property
    def info(self) -> dict:
        return self.golden.metadata.get("counterexample") or {}

    @property
    def target(self) -> Target | None:
        target = self.info.get("target")
        return Target.from_dict(target) if isinstance(target, dict) else None

    @property
    def check(self) -> str:
        return str(self.info.get("check") or "?")

    @property
    def description(self) -> str:
        return "; ".join(self.golden.descriptions)

    def misfit(self, *, num_keypoints: int, num_labels: int, targets: Iterable[Target]) -> str:
        """Why this counterexample cannot be replayed in a run ("" when it can)."""
        width, labels = self.golden.keypoints.shape[2], self.golden.logits.shape[1]
        if self.target is None:
            return "not a gate counterexample (no target recorded)"
        if width != num_keypoints or labels != num_labels:
            return f"another model ({width} keypoints, {labels} labels)"
        if self.target not in set(targets):
            return f"its target ({self.target}) is not gated in this run"
        return ""


def corpus_file_name(target: Target, check: str, keypoints, masks) -> str:
    """A stable name: the check, the target, and a hash of the inputs, target and check."""
    digest = hashlib.sha256()
    for part in (check, str(target)):
        digest.update(part.encode() + b"\0")
    for array, dtype in ((keypoints, np.float32), (masks, np.int64)):
        data = np.ascontiguousarray(array, dtype=dtype)
        digest.update(str(data.shape).encode() + data.tobytes())
    where = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{target.quantization}-{target.runtime}")
    return f"{check}-seq{target.seq_len}-{where}-{digest.hexdigest()[:16]}.npz"


def save_counterexample(
    directory: Path,
    *,
    model,
    config,
    config_path: Path,
    checkpoint_path: Path,
    target: Target,
    check: str,
    keypoints: np.ndarray,
    masks: np.ndarray,
    descriptions: Sequence[str],
) -> tuple[Path, bool]:
    """Store one shrunk counterexample (rows of ``keypoints``/``masks``) as a golden file,
    written atomically. Returns its path and whether it is new (False: already stored)."""
    from datetime import UTC, datetime

    path = Path(directory) / corpus_file_name(target, check, keypoints, masks)
    if path.is_file():
        return path, False
    keypoints = np.ascontiguousarray(keypoints, dtype=np.float32)
    masks = np.ascontiguousarray(masks, dtype=np.int64)
    metadata = shared_metadata(model, config, config_path, checkpoint_path, ()) | {
        "seq_len": target.seq_len,
        "seed": None,
        "keypoint_kinds": [],
        "generated_rows": len(masks),
        "counterexample": {
            "check": check,
            "target": target.to_dict(),
            "found": datetime.now(UTC).isoformat(timespec="seconds"),
            "description": "; ".join(descriptions),
        },
    }
    golden = Golden(
        keypoints=keypoints,
        attention_mask=masks,
        logits=torch_logits(model, keypoints, masks).astype(np.float32),
        logits_float64=torch_logits(float64_oracle(model), keypoints, masks),
        descriptions=list(descriptions),
        metadata=metadata,
    )
    write_goldens([golden], path)
    return path, True


def load_corpus(directory: Path) -> tuple[list[Counterexample], list[str]]:
    """Every counterexample in ``directory`` (sorted by name), and one line per ``.npz``
    there that is not a readable one-bucket golden file (left alone, reported)."""
    found, unreadable = [], []
    for path in sorted(Path(directory).glob("*.npz")):
        try:
            goldens = load_goldens(path)
        except GoldenError as exc:
            unreadable.append(str(exc))
            continue
        if len(goldens) != 1:
            unreadable.append(f"{path}: holds {len(goldens)} buckets, not one counterexample")
            continue
        found.append(Counterexample(path, goldens[0]))
    return found, unreadable


def replayable(
    directory: Path, *, num_keypoints: int, num_labels: int, targets: Iterable[Target]
) -> dict[Target, list[Counterexample]]:
    """The counterexamples a run can replay, by their target."""
    targets = list(targets)
    by_target: dict[Target, list[Counterexample]] = {}
    for item in load_corpus(directory)[0]:
        if not item.misfit(num_keypoints=num_keypoints, num_labels=num_labels, targets=targets):
            by_target.setdefault(item.target, []).append(item)
    return by_target


def replay(item: Counterexample, model, tflite, *, judge_outside: bool = False):
    """``check_golden`` of the stored inputs against the current checkpoint's PyTorch logits
    (recomputed: the model may have changed since the counterexample was found): its
    ``CheckResult``."""
    keypoints, masks = item.golden.keypoints, item.golden.attention_mask
    current = replace(
        item.golden,
        logits=torch_logits(model, keypoints, masks).astype(np.float32),
        logits_float64=torch_logits(float64_oracle(model), keypoints, masks),
    )
    return check_golden(
        tflite, current, item.target.quantization, judge_outside=judge_outside
    ).result


def summary(
    directory: Path,
    statuses: dict[str, str],
    *,
    num_keypoints: int,
    num_labels: int,
    targets: Iterable[Target],
) -> dict:
    """The report's view of the corpus: every stored counterexample with its target, check
    and this run's status (``statuses``: file name -> STILL_FAILS, PASSES_NOW or NEW; the
    rest say why they were not replayed)."""
    targets = list(targets)
    items, unreadable = load_corpus(directory)
    entries = []
    for item in items:
        status = statuses.get(item.path.name) or "not replayed: " + (
            item.misfit(num_keypoints=num_keypoints, num_labels=num_labels, targets=targets)
            or "its check did not run"
        )
        entries.append(
            {
                "file": item.path.name,
                "check": item.check,
                "target": item.target.to_dict() if item.target else None,
                "description": item.description,
                "found": item.info.get("found"),
                "status": status,
            }
        )
    counted = list(statuses.values())
    return {
        "folder": str(directory),
        "stored": len(entries),
        "replayed": counted.count(STILL_FAILS) + counted.count(PASSES_NOW),
        "still_failing": counted.count(STILL_FAILS),
        "new": counted.count(NEW),
        "entries": entries,
        "unreadable": unreadable,
    }

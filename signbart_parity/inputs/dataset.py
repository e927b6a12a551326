"""A labelled keypoint dataset in the published layout, loaded safely and preprocessed.

Layout: ``DIR/<class name>/*.pkl`` (upstream sample pickles) and, optionally,
``DIR/label2id.json`` mapping class name -> id. Without it, sorted folder names get ids
0..n-1. The folder, not the sample's own ``class`` field, gives the label.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signbart_parity.errors import DataError
from signbart_parity.inputs.samples import load_sample, prepare_sample

LABEL_FILE = "label2id.json"


@dataclass(frozen=True)
class Skipped:
    file: str
    reason: str


@dataclass
class Dataset:
    root: Path
    class_names: dict[int, str]
    files: list[Path]
    labels: np.ndarray  # (N,) int64
    keypoints: np.ndarray  # (N, T, K, 2) float32, preprocessed
    masks: np.ndarray  # (N, T) int64
    skipped: list[Skipped] = field(default_factory=list)


def read_label_map(root: Path) -> dict[str, int]:
    """Class name -> id from ``label2id.json``, else sorted class folders -> 0..n-1."""
    label_file = root / LABEL_FILE
    if not label_file.exists():
        folders = sorted(path.name for path in root.iterdir() if path.is_dir())
        return {name: index for index, name in enumerate(folders)}
    try:
        mapping = json.loads(label_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{label_file}: not readable JSON ({exc}); fix or remove it.") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in mapping.values()
    ):
        raise DataError(
            f"{label_file}: expected an object mapping class names to ids >= 0; fix or remove it."
        )
    return {str(name): int(index) for name, index in mapping.items()}


def load_dataset(
    root: str | Path,
    *,
    seq_len: int,
    num_keypoints: int,
    num_labels: int,
    progress: Callable[[str], None] | None = None,
) -> Dataset:
    """Load and preprocess every usable sample; unusable ones are listed in ``skipped``.

    ``num_keypoints`` is what the model file takes per frame (``min_input_keypoints``).

    Raises:
        DataError: ``root`` is not a folder, ``label2id.json`` is invalid or names an id
            the model does not have, or no sample is usable.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found; pass a folder of class folders.")
    label_map = read_label_map(root)
    too_large = {name: i for name, i in label_map.items() if i >= num_labels}
    if too_large:
        name, index = next(iter(too_large.items()))
        raise DataError(
            f"{root}: class {name!r} has id {index} but the model has {num_labels} labels; "
            f"fix {LABEL_FILE} or pass the matching config."
        )
    say = progress or (lambda message: None)
    rows, skipped = [], []
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        files = sorted(folder.glob("*.pkl"))
        if folder.name not in label_map:
            reason = f"class folder {folder.name!r} is not in {LABEL_FILE}"
            skipped += [Skipped(_rel(root, path), reason) for path in files]
            continue
        say(f"loading class {folder.name}: {len(files)} .pkl file(s)")
        for path in files:
            try:
                prepared = prepare_sample(
                    load_sample(path), seq_len=seq_len, num_keypoints=num_keypoints
                )
                rows.append((path, label_map[folder.name], prepared))
            except DataError as exc:  # its message starts with the path, already named
                skipped.append(Skipped(_rel(root, path), str(exc).removeprefix(f"{path}: ")))
    if not rows:
        raise DataError(
            f"{root}: no usable .pkl sample ({len(skipped)} skipped); put samples in "
            "one folder per class."
        )
    return Dataset(
        root=root,
        class_names={index: name for name, index in label_map.items()},
        files=[path for path, _, _ in rows],
        labels=np.array([label for _, label, _ in rows], dtype=np.int64),
        keypoints=np.stack([prepared[0] for _, _, prepared in rows]),
        masks=np.stack([prepared[1] for _, _, prepared in rows]),
        skipped=skipped,
    )


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()

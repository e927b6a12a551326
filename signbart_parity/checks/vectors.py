"""Preprocessing vectors: raw clips as the app receives them, with what the published
preprocessing makes of them in every bucket, the bucket an app must pick, and the logits.

``golden create`` writes them beside the golden .npz as ``<name>.vectors.json`` (one JSON
document, written atomically; format in docs/preprocessing.md). A device test reads the raw
clips, runs its own preprocessing and writes an app output in the same form, which
``golden check-preprocessing`` compares (checks/app_preprocessing.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signbart_parity.checks.reference import torch_logits
from signbart_parity.errors import GoldenError
from signbart_parity.export.bundle import bucket_for
from signbart_parity.fileio import read_text, write_text_atomic
from signbart_parity.inputs.raw_clips import RAW_CLIP_SEED, raw_clips
from signbart_parity.inputs.samples import (
    PUBLISHED,
    keypoint_groups,
    load_sample,
    prepare_sample,
    resample_indices,
    sample_paths,
)
from signbart_parity.runtime.read.signature import signature_name

VECTORS_FORMAT = "signbart-preprocessing-vectors"
APP_OUTPUT_FORMAT = "signbart-preprocessing-app-output"
VECTORS_VERSION = 1
# Largest |app - expected| accepted per coordinate: float32 rounding of values in [0, 1] is
# below 6e-8, an app computing in float32 stays well within it, any wrong step far outside.
TOLERANCE = 1e-5
SUFFIX = ".vectors.json"


@dataclass(frozen=True)
class Expected:
    """One clip in one bucket: model inputs (T, K, 2) and (T,), frames kept, logits (C,)."""

    keypoints: np.ndarray
    attention_mask: np.ndarray
    source_frames: list[int]
    logits: np.ndarray


@dataclass(frozen=True)
class VectorClip:
    name: str
    description: str
    source: str  # "generated" or "real"
    raw: np.ndarray  # (frames, K_raw, C) float64, as the app receives it
    signature: str  # the seq_<T> an app must run it in
    expected: dict[str, Expected]  # by signature name

    @property
    def frames(self) -> int:
        return len(self.raw)


@dataclass(frozen=True)
class Vectors:
    path: Path
    metadata: dict
    clips: list[VectorClip]

    @property
    def num_keypoints(self) -> int:
        return int(self.metadata["num_keypoints"])

    @property
    def buckets(self) -> list[int]:
        return [int(bucket) for bucket in self.metadata["buckets"]]


def vectors_path(golden: str | Path) -> Path:
    """``golden-64.npz`` -> ``golden-64.vectors.json``; a ``.vectors.json`` path as given."""
    golden = Path(golden)
    if golden.name.endswith(SUFFIX):
        return golden
    return golden.with_name(golden.stem + SUFFIX)


# ---------------------------------------------------------------- create


def vector_clips(
    model, *, seq_lens: Sequence[int], num_keypoints: int, samples: Sequence[Path] = ()
) -> list[VectorClip]:
    """The generated raw clips, then the real samples, each through the published
    preprocessing in every bucket, with the model's fp32 logits there."""
    raws = [
        (clip.name, clip.description, "generated", clip.keypoints)
        for clip in raw_clips(seq_lens=seq_lens, num_keypoints=num_keypoints)
    ]
    raws += _real_clips(samples, num_keypoints)
    expected = {
        seq_len: _expected_in_bucket(model, [raw for *_, raw in raws], seq_len, num_keypoints)
        for seq_len in seq_lens
    }
    return [
        VectorClip(
            name=name,
            description=description,
            source=source,
            raw=raw,
            signature=signature_name(bucket_for(len(raw), seq_lens)),
            expected={signature_name(seq_len): expected[seq_len][row] for seq_len in seq_lens},
        )
        for row, (name, description, source, raw) in enumerate(raws)
    ]


def _real_clips(
    samples: Sequence[Path], num_keypoints: int
) -> list[tuple[str, str, str, np.ndarray]]:
    clips = []
    for path in sample_paths(samples):
        sample = load_sample(path)
        prepare_sample(sample, seq_len=1, num_keypoints=num_keypoints)  # too few keypoints?
        label = f", class {sample.label}" if sample.label else ""
        description = f"real sample {path.name} ({len(sample.keypoints)} frames{label})"
        raw = np.asarray(sample.keypoints, dtype=np.float64)
        clips.append((f"real-{len(clips)}-{path.stem}", description, "real", raw))
    return clips


def _expected_in_bucket(model, raws, seq_len: int, num_keypoints: int) -> list[Expected]:
    prepared = [PUBLISHED(raw, seq_len, num_keypoints) for raw in raws]
    keypoints = np.stack([frames for frames, _ in prepared])
    masks = np.stack([mask for _, mask in prepared])
    logits = torch_logits(model, keypoints, masks).astype(np.float32)
    kept = [
        resample_indices(len(raw), seq_len) if len(raw) > seq_len else np.arange(len(raw))
        for raw in raws
    ]
    return [
        Expected(keypoints[row], masks[row], [int(i) for i in kept[row]], logits[row])
        for row in range(len(raws))
    ]


def vectors_metadata(golden_metadata: dict, seq_lens: Sequence[int], golden: Path) -> dict:
    """What the vectors share with their golden file: model, checkpoint, buckets."""
    shared = ("num_keypoints", "num_labels", "checkpoint", "config", "versions")
    return {key: golden_metadata[key] for key in shared} | {
        "golden": golden.name,
        "buckets": list(seq_lens),
        "signatures": [signature_name(seq_len) for seq_len in seq_lens],
        "seed": RAW_CLIP_SEED,
    }


def write_vectors(clips: Sequence[VectorClip], path: Path, metadata: dict) -> None:
    """The vectors as one JSON document, atomically (docs/preprocessing.md)."""
    document = {
        "format": VECTORS_FORMAT,
        "format_version": VECTORS_VERSION,
        **metadata,
        "tolerance": TOLERANCE,
        "clips": [_clip_document(clip) for clip in clips],
    }
    write_text_atomic(path, json.dumps(document, separators=(",", ":")) + "\n")


def _clip_document(clip: VectorClip) -> dict:
    return {
        "name": clip.name,
        "description": clip.description,
        "source": clip.source,
        "frames": clip.frames,
        "keypoints_per_frame": int(clip.raw.shape[1]),
        "coordinates": int(clip.raw.shape[2]),
        "groups": [list(group) for group in keypoint_groups(clip.raw.shape[1])],
        "signature": clip.signature,
        "raw": clip.raw.tolist(),
        "expected": {
            name: {
                "keypoints": _float32_list(bucket.keypoints),
                "attention_mask": bucket.attention_mask.astype(int).tolist(),
                "source_frames": bucket.source_frames,
                "logits": _float32_list(bucket.logits),
            }
            for name, bucket in clip.expected.items()
        },
    }


def _float32_list(values: np.ndarray) -> list:
    """float32 values as the shortest decimals that read back as exactly them (about 40%
    less JSON than the float64 digits of the same values)."""
    return np.asarray(values, dtype=np.float32).astype(str).astype(np.float64).tolist()


# ---------------------------------------------------------------- load


def load_document(path: Path, error: type[Exception], what: str, form: str, fix: str) -> dict:
    """A JSON object of format ``form`` (version VECTORS_VERSION) from ``path``, or ``error``
    with one sentence naming the file and ``fix``."""
    text = read_text(
        path,
        error,
        missing=f"{what} not found; {fix}.",
        unreadable=f"{what} unreadable ({{reason}}).",
    )
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: {what} is not JSON (line {exc.lineno}); {fix}.") from None
    if not isinstance(document, dict) or (
        document.get("format"),
        document.get("format_version"),
    ) != (form, VECTORS_VERSION):
        raise error(
            f"{path}: {what} must be a JSON object with format {form!r} and format_version "
            f"{VECTORS_VERSION}; {fix}."
        )
    return document


def load_vectors(path: str | Path) -> Vectors:
    """The vectors beside a golden file (or a ``.vectors.json`` path itself).

    Raises:
        GoldenError: missing, not JSON, not this format, or malformed.
    """
    path = vectors_path(path)
    fix = "create them with 'golden create'"
    document = load_document(path, GoldenError, "preprocessing vectors", VECTORS_FORMAT, fix)
    try:
        clips = [_vector_clip(entry) for entry in document["clips"]]
        metadata = {key: value for key, value in document.items() if key != "clips"}
        vectors = Vectors(path, metadata, clips)
        _validate(vectors)
    except (KeyError, TypeError, ValueError):
        raise GoldenError(f"{path}: preprocessing vectors are malformed; {fix} again.") from None
    return vectors


def _validate(vectors: Vectors) -> None:
    """ValueError unless every clip's chosen bucket has its tensors and K is a count."""
    if vectors.num_keypoints < 1 or not vectors.buckets:
        raise ValueError("no keypoints or no buckets")
    for clip in vectors.clips:
        if clip.signature not in clip.expected or clip.raw.ndim != 3:
            raise ValueError(f"clip {clip.name} is incomplete")


def _vector_clip(entry: dict) -> VectorClip:
    expected = {
        name: Expected(
            keypoints=np.asarray(bucket["keypoints"], dtype=np.float32),
            attention_mask=np.asarray(bucket["attention_mask"], dtype=np.int64),
            source_frames=[int(i) for i in bucket["source_frames"]],
            logits=np.asarray(bucket["logits"], dtype=np.float32),
        )
        for name, bucket in entry["expected"].items()
    }
    return VectorClip(
        name=str(entry["name"]),
        description=str(entry["description"]),
        source=str(entry["source"]),
        raw=np.asarray(entry["raw"], dtype=np.float64),
        signature=str(entry["signature"]),
        expected=expected,
    )

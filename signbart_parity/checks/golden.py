"""Golden files: fixed inputs with PyTorch's logits, checkable without PyTorch.

``golden create`` runs the checkpoint once over a documented, seeded set of inputs (every
mask kind x ``GOLDEN_KEYPOINT_KINDS``, then any real samples) and stores inputs, logits and
metadata in a plain ``.npz`` (no pickled objects: metadata is a JSON string). ``golden
check`` compares a .tflite file with it using only numpy and the TFLite runtime, so it runs
where PyTorch is not installed (a device farm, an app's CI). Layout: docs/golden.md.

One seq_len gives a format-1 file (one set of arrays). Several seq_lens (the buckets of a
multi-signature file) give a format-2 file: the same arrays once per bucket, named
``<array>_seq_<T>``; ``golden check`` then checks every signature against its bucket.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signbart_parity.checks import vectors
from signbart_parity.checks.provenance import judge_provenance
from signbart_parity.checks.reference import float64_oracle, torch_logits
from signbart_parity.checks.table import CHECKS, Batch, CheckResult, Subject, judge
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.errors import GoldenError, TFLiteFileError
from signbart_parity.export.bundle import as_seq_lens
from signbart_parity.fileio import atomic_path, file_sha256
from signbart_parity.inputs.generators import batch_of
from signbart_parity.inputs.masks import MASK_KINDS
from signbart_parity.inputs.samples import preprocessed_samples, sample_paths
from signbart_parity.model.checkpoint import load_signbart_model
from signbart_parity.model.fingerprint import weights_fingerprint
from signbart_parity.validate import InvalidDocument, check_npz_archive, parse_json, validated
from signbart_parity.versions import environment

FORMAT = "signbart-golden"
FORMAT_VERSION = 1  # one seq_len
BUCKETS_FORMAT_VERSION = 2  # one set of arrays per bucket
GOLDEN_SEED = 20261124
GOLDEN_KEYPOINT_KINDS = ("uniform", "real-like", "gaussian", "large")
ARRAYS = ("keypoints", "attention_mask", "logits", "logits_float64", "descriptions", "metadata")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Golden:
    """A golden file's contents: (N, T, K, 2) keypoints, (N, T) masks, (N, C) logits."""

    keypoints: np.ndarray
    attention_mask: np.ndarray
    logits: np.ndarray
    logits_float64: np.ndarray
    descriptions: list[str]
    metadata: dict

    @property
    def seq_len(self) -> int:
        return int(self.keypoints.shape[1])


# ---------------------------------------------------------------- inputs


def golden_inputs(
    *, seq_len: int, num_keypoints: int, seed: int = GOLDEN_SEED
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The fixed generated rows: for each of GOLDEN_KEYPOINT_KINDS, one row per mask kind."""
    import itertools

    pairs = itertools.product(GOLDEN_KEYPOINT_KINDS, MASK_KINDS)
    rng = np.random.default_rng(seed)
    return batch_of(pairs, rng, seq_len=seq_len, num_keypoints=num_keypoints)


# ---------------------------------------------------------------- create


def create_golden(
    *,
    config_path: Path,
    checkpoint_path: Path,
    seq_len: int | Sequence[int],
    output: Path,
    samples: Sequence[Path] = (),
    progress: Progress | None = None,
) -> list[Golden]:
    """Run the checkpoint over the golden inputs of each seq_len; write ``output`` atomically."""
    say = progress or (lambda message: None)
    model, config = load_signbart_model(config_path, checkpoint_path)
    seq_lens = as_seq_lens(config.check_seq_lens(seq_len))
    shared = shared_metadata(model, config, config_path, checkpoint_path, samples)
    say("running PyTorch on the raw clips of the preprocessing vectors in every bucket")
    write_vectors = _preprocessing_vectors(model, seq_lens, samples, shared, Path(output))
    goldens = []
    for length in seq_lens:
        say(f"running PyTorch (fp32 and float64) on the golden inputs at seq_len {length}")
        goldens.append(_bucket(model, length, samples, shared))
    write_goldens(goldens, output)
    write_vectors()
    return goldens


def _preprocessing_vectors(model, seq_lens, samples, shared: dict, output: Path):
    """Build the vectors beside the golden file (checks/vectors.py); returns their writer
    and notes the file in the golden's metadata."""
    clips = vectors.vector_clips(
        model, seq_lens=seq_lens, num_keypoints=shared["num_keypoints"], samples=samples
    )
    path = vectors.vectors_path(output)
    metadata = vectors.vectors_metadata(shared, seq_lens, output)
    shared["preprocessing_vectors"] = {"file": path.name, "clips": len(clips)}
    return lambda: vectors.write_vectors(clips, path, metadata)


def shared_metadata(model, config, config_path: Path, checkpoint_path: Path, samples) -> dict:
    """What every golden file records of where it came from (counterexamples included);
    ``checkpoint.weights`` is what ``golden check`` compares a file's stamp with."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "num_keypoints": config.min_input_keypoints,
        "num_labels": config.num_labels,
        "seed": GOLDEN_SEED,
        "keypoint_kinds": list(GOLDEN_KEYPOINT_KINDS),
        "mask_kinds": list(MASK_KINDS),
        "real_samples": [str(path) for path in sample_paths(samples)],
        "checkpoint": {
            "path": str(checkpoint_path),
            "sha256": file_sha256(checkpoint_path),
            "weights": weights_fingerprint(model),
        },
        "config": {
            "path": str(config_path),
            "sha256": file_sha256(config_path),
            "values": config.to_dict(),
        },
        "versions": environment(),
    }


def _bucket(model, seq_len: int, samples, shared: dict) -> Golden:
    width = shared["num_keypoints"]
    keypoints, masks, descriptions = golden_inputs(seq_len=seq_len, num_keypoints=width)
    real_keypoints, real_masks, real_descriptions = preprocessed_samples(
        samples, seq_len=seq_len, num_keypoints=width
    )
    keypoints = np.concatenate([keypoints, real_keypoints])
    masks = np.concatenate([masks, real_masks])
    descriptions += real_descriptions
    logits = torch_logits(model, keypoints, masks).astype(np.float32)
    logits64 = torch_logits(float64_oracle(model), keypoints, masks)
    metadata = shared | {
        "seq_len": seq_len,
        "generated_rows": len(masks) - len(real_descriptions),
    }
    return Golden(keypoints, masks, logits, logits64, descriptions, metadata)


def _arrays(golden: Golden, suffix: str = "") -> dict[str, np.ndarray]:
    return {
        f"keypoints{suffix}": np.ascontiguousarray(golden.keypoints, dtype=np.float32),
        f"attention_mask{suffix}": np.ascontiguousarray(golden.attention_mask, dtype=np.int64),
        f"logits{suffix}": np.ascontiguousarray(golden.logits, dtype=np.float32),
        f"logits_float64{suffix}": np.ascontiguousarray(golden.logits_float64, dtype=np.float64),
        f"descriptions{suffix}": np.array(golden.descriptions, dtype=np.str_),
    }


def write_goldens(goldens: Sequence[Golden], output: str | Path) -> None:
    """One bucket: format 1, as documented. Several: format 2, arrays suffixed _seq_<T>."""
    if len(goldens) == 1:
        (golden,) = goldens
        arrays, metadata = _arrays(golden), golden.metadata
    else:
        arrays = {}
        for golden in goldens:
            arrays |= _arrays(golden, f"_seq_{golden.seq_len}")
        metadata = goldens[0].metadata | {
            "format_version": BUCKETS_FORMAT_VERSION,
            "seq_len": None,
            "seq_lens": [golden.seq_len for golden in goldens],
            "generated_rows": goldens[0].metadata["generated_rows"],
        }
    arrays["metadata"] = np.array([json.dumps(metadata, sort_keys=True)], dtype=np.str_)
    # A file object, not a name: np.savez would append ".npz" to the temporary name.
    with atomic_path(output) as temp, open(temp, "wb") as handle:
        np.savez(handle, **arrays)


# ---------------------------------------------------------------- load and check


# What numpy and zipfile raise for a damaged archive (zlib: a corrupt deflate stream;
# RuntimeError: an encrypted member; NotImplementedError: an unknown compression).
_NPZ_ERRORS = (
    ValueError, OSError, zipfile.BadZipFile, zlib.error, EOFError, KeyError, TypeError,
    RuntimeError, NotImplementedError,
)  # fmt: skip


def load_goldens(path: str | Path) -> list[Golden]:
    """Every bucket of a golden .npz (format 1: one), without unpickling anything;
    GoldenError when it is not a golden file."""
    path = Path(path)
    if not path.is_file():
        raise GoldenError(f"{path}: golden file not found; create it with 'golden create'.")
    try:
        check_npz_archive(path)
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with loaded as npz:
            if "metadata" not in npz.files:
                raise GoldenError(
                    f"{path}: not a golden file (no 'metadata' array); "
                    "create it with 'golden create'."
                )
            metadata = _metadata(npz["metadata"], path)
            if metadata.get("format_version") == BUCKETS_FORMAT_VERSION:
                suffixes = [f"_seq_{length}" for length in metadata.get("seq_lens") or []]
            else:
                suffixes = [""]
            goldens = [_read_bucket(npz, suffix, metadata, path) for suffix in suffixes]
    except GoldenError:
        raise
    except InvalidDocument as exc:
        raise GoldenError(f"{path}: refused: the archive {exc}.") from None
    except _NPZ_ERRORS as exc:
        raise GoldenError(
            f"{path}: not a readable golden .npz ({type(exc).__name__}); "
            "create it again with 'golden create'."
        ) from None
    if not goldens:
        raise GoldenError(f"{path}: golden file lists no buckets; create it again.")
    return goldens


def load_golden(path: str | Path) -> Golden:
    """A one-bucket golden file (format 1)."""
    goldens = load_goldens(path)
    if len(goldens) != 1:
        raise GoldenError(f"{path}: holds {len(goldens)} buckets; read it with load_goldens.")
    return goldens[0]


def _metadata(array: np.ndarray, path: Path) -> dict:
    from signbart_parity.schemas import GoldenMetadata

    try:
        metadata = parse_json(str(array.reshape(-1)[0]), name="golden metadata")
        if not isinstance(metadata, dict):
            raise InvalidDocument(f"is a JSON {type(metadata).__name__}, not an object")
        validated(GoldenMetadata, metadata, name="golden file's metadata")
    except (InvalidDocument, IndexError) as exc:
        reason = str(exc) if isinstance(exc, InvalidDocument) else "is empty"
        raise GoldenError(f"{path}: golden metadata {reason}; create the file again.") from None
    versions = (FORMAT_VERSION, BUCKETS_FORMAT_VERSION)
    if metadata.get("format") != FORMAT or metadata.get("format_version") not in versions:
        raise GoldenError(
            f"{path}: golden format {metadata.get('format')!r} v{metadata.get('format_version')} "
            f"is not {FORMAT} v{FORMAT_VERSION} or v{BUCKETS_FORMAT_VERSION}; "
            "create the file again."
        )
    return metadata


def _read_bucket(npz, suffix: str, metadata: dict, path: Path) -> Golden:
    missing = [name + suffix for name in ARRAYS[:-1] if name + suffix not in npz.files]
    if missing:
        raise GoldenError(
            f"{path}: not a golden file (no '{missing[0]}' array); create it with 'golden create'."
        )
    arrays = {name: npz[name + suffix] for name in ARRAYS[:-1]}
    _check_dtypes(arrays, path)
    golden = Golden(
        keypoints=arrays["keypoints"],
        attention_mask=arrays["attention_mask"],
        logits=arrays["logits"],
        logits_float64=arrays["logits_float64"],
        descriptions=[str(text) for text in arrays["descriptions"]],
        metadata=metadata | {"seq_len": int(arrays["keypoints"].shape[1])},
    )
    rows = {len(golden.keypoints), len(golden.attention_mask), len(golden.logits)}
    if len(rows) != 1 or len(golden.descriptions) != len(golden.logits):
        raise GoldenError(f"{path}: golden arrays disagree on the row count; create it again.")
    return golden


# What each golden array must hold (numpy dtype kinds): a float mask or string keypoints
# would be cast on the way into the model, and the check would judge something else.
_KINDS = {
    "keypoints": ("f", "floats"),
    "attention_mask": ("iub", "integers"),
    "logits": ("f", "floats"),
    "logits_float64": ("f", "floats"),
    "descriptions": ("U", "strings"),
}


def _check_dtypes(arrays: dict[str, np.ndarray], path: Path) -> None:
    for name, array in arrays.items():
        kinds, words = _KINDS.get(name, ("", ""))
        if kinds and array.dtype.kind not in kinds:
            raise GoldenError(
                f"{path}: golden array '{name}' holds {array.dtype} values, not {words}; "
                "create the file again with 'golden create'."
            )


def check_fits(golden: Golden, signature, tflite_path: Path, golden_path: Path) -> None:
    """Raise TFLiteFileError when the file cannot take the golden inputs or give its logits."""
    wanted = {
        "seq_len": (signature.seq_len, golden.seq_len),
        "keypoints per frame": (signature.num_keypoints, golden.keypoints.shape[2]),
        "labels": (signature.num_labels, golden.logits.shape[1]),
    }
    for what, (file_value, golden_value) in wanted.items():
        if file_value != golden_value:
            raise TFLiteFileError(
                f"{tflite_path}: file has {what} {file_value} but {golden_path} was made with "
                f"{golden_value}; check the file against a golden of its own model and seq_len."
            )


@dataclass
class GoldenCheck:
    """``golden`` (the check table's) on a golden file's rows: the result, how many rows lie
    outside the precision's input range (not run), and the worst error against the float64
    oracle over the rows run."""

    result: CheckResult
    out_of_range: int
    oracle_err: float

    @property
    def passed(self) -> bool:
        return self.result.passed


def check_golden(tflite, golden: Golden, quantization: str, *, judge_outside: bool = False):
    """The table's ``golden`` check of the file on the golden rows in the precision's input
    range (static-int8, the GPU at fp16: keypoints within [0, 1]); rows without a valid frame
    are run and kept apart, as at every door (``judge_outside`` judges them too)."""
    spec = CHECKS["golden"]
    in_range = tolerance_for(quantization, tflite.runtime).judges(golden.keypoints)
    batch = _rows(golden).where(in_range)
    ran = spec.run(Subject(None, tflite, quantization), batch)
    result = judge(spec, ran, quantization, runtime=tflite.runtime, judge_outside=judge_outside)
    oracle = golden.logits_float64[in_range]
    oracle_err = float(np.abs(ran.candidate - oracle).max()) if len(oracle) else 0.0
    return GoldenCheck(result, int((~in_range).sum()), oracle_err)


def _rows(golden: Golden) -> Batch:
    """Every row, described by its number (``row 7: ...``) for the failing-row lines."""
    texts = [f"row {index}: {text}" for index, text in enumerate(golden.descriptions)]
    return Batch(golden.keypoints, golden.attention_mask, texts, golden.logits)


def failing_rows(result: CheckResult) -> list[str]:
    """The rows the result failed, by the same per-example rule as its verdict: over the
    bound, or a top-1 flip PyTorch's own margin cannot excuse."""
    return [
        f"{text}: max abs err {err:.3g}"
        for text, err, ok in zip(
            result.descriptions, result.example_err, result.example_ok, strict=True
        )
        if not ok
    ]


def check_buckets(files, goldens: dict, tflite_path: Path, golden_path: Path) -> None:
    """The file's signatures and the golden's buckets must be the same seq_lens."""
    lengths = sorted(tflite.seq_len for tflite in files)
    if len(files) > 1 and lengths != sorted(goldens):
        raise TFLiteFileError(
            f"{tflite_path}: file has signatures for seq_len {','.join(map(str, lengths))} but "
            f"{golden_path} holds buckets {','.join(map(str, sorted(goldens)))}; create a "
            "golden with 'golden create --seq-len' listing the file's buckets."
        )
    for tflite in files:
        golden = goldens.get(tflite.seq_len) or next(iter(goldens.values()))
        check_fits(golden, tflite.signature, tflite_path, golden_path)


def golden_provenance(tflite_path: Path, golden: Golden, golden_path: Path):
    """The file's stamp against the weights the golden was made from (STALE when they
    differ); a golden older than the weights fingerprint is not compared."""
    made_from = golden.metadata.get("checkpoint") or {}
    return judge_provenance(
        tflite_path,
        made_from.get("weights"),
        against=f"{golden_path} (made from {made_from.get('path', 'an unnamed checkpoint')})",
        config=(golden.metadata.get("config") or {}).get("path", "CONFIG"),
        checkpoint=made_from.get("path", "CHECKPOINT"),
    )

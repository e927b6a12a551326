"""Golden files: fixed inputs with PyTorch's logits, checkable without PyTorch.

``golden create`` runs the checkpoint once over a documented, seeded set of inputs (every
mask kind x ``GOLDEN_KEYPOINT_KINDS``, then any real samples) and stores inputs, logits and
metadata in a plain ``.npz`` (no pickled objects: metadata is a JSON string). ``golden
check`` compares a .tflite file with it using only numpy and the TFLite runtime, so it runs
where PyTorch is not installed (a device farm, an app's CI). Layout: docs/golden.md.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signbart_parity.errors import GoldenError, TFLiteFileError
from signbart_parity.fileio import atomic_path
from signbart_parity.samples import preprocessed_samples, sample_paths

FORMAT = "signbart-golden"
FORMAT_VERSION = 1
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
    from signbart_parity.inputs import make_keypoints, make_mask
    from signbart_parity.masks import MASK_KINDS

    rng = np.random.default_rng(seed)
    keypoints, masks, descriptions = [], [], []
    for keypoint_kind in GOLDEN_KEYPOINT_KINDS:
        for mask_kind in MASK_KINDS:
            keypoints.append(
                make_keypoints(keypoint_kind, rng, seq_len=seq_len, num_keypoints=num_keypoints)
            )
            masks.append(make_mask(mask_kind, rng, seq_len=seq_len))
            descriptions.append(f"{keypoint_kind} keypoints, {mask_kind} mask")
    return np.stack(keypoints), np.stack(masks), descriptions


# ---------------------------------------------------------------- create


def create_golden(
    *,
    config_path: Path,
    checkpoint_path: Path,
    seq_len: int,
    output: Path,
    samples: Sequence[Path] = (),
    progress: Progress | None = None,
) -> Golden:
    """Run the checkpoint over the golden inputs and write ``output`` atomically."""
    from signbart_parity.checkpoint import file_sha256, load_signbart_model
    from signbart_parity.convert import check_seq_len
    from signbart_parity.masks import MASK_KINDS
    from signbart_parity.parity import float64_oracle, torch_logits
    from signbart_parity.versions import environment

    say = progress or (lambda message: None)
    model, config = load_signbart_model(config_path, checkpoint_path)
    check_seq_len(config, seq_len)
    width = config.min_input_keypoints
    keypoints, masks, descriptions = golden_inputs(seq_len=seq_len, num_keypoints=width)
    real_keypoints, real_masks, real_descriptions = preprocessed_samples(
        samples, seq_len=seq_len, num_keypoints=width
    )
    keypoints = np.concatenate([keypoints, real_keypoints])
    masks = np.concatenate([masks, real_masks])
    descriptions += real_descriptions
    say(f"running PyTorch (fp32 and float64) on {len(masks)} golden inputs")
    logits = torch_logits(model, keypoints, masks).astype(np.float32)
    logits64 = torch_logits(float64_oracle(model), keypoints, masks)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "seq_len": seq_len,
        "num_keypoints": width,
        "num_labels": config.num_labels,
        "seed": GOLDEN_SEED,
        "keypoint_kinds": list(GOLDEN_KEYPOINT_KINDS),
        "mask_kinds": list(MASK_KINDS),
        "generated_rows": len(masks) - len(real_descriptions),
        "real_samples": [str(path) for path in sample_paths(samples)],
        "checkpoint": {"path": str(checkpoint_path), "sha256": file_sha256(checkpoint_path)},
        "config": {
            "path": str(config_path),
            "sha256": file_sha256(config_path),
            "values": config.to_dict(),
        },
        "versions": environment(),
    }
    golden = Golden(keypoints, masks, logits, logits64, descriptions, metadata)
    write_golden(golden, output)
    return golden


def write_golden(golden: Golden, output: str | Path) -> None:
    arrays = {
        "keypoints": np.ascontiguousarray(golden.keypoints, dtype=np.float32),
        "attention_mask": np.ascontiguousarray(golden.attention_mask, dtype=np.int64),
        "logits": np.ascontiguousarray(golden.logits, dtype=np.float32),
        "logits_float64": np.ascontiguousarray(golden.logits_float64, dtype=np.float64),
        "descriptions": np.array(golden.descriptions, dtype=np.str_),
        "metadata": np.array([json.dumps(golden.metadata, sort_keys=True)], dtype=np.str_),
    }
    # A file object, not a name: np.savez would append ".npz" to the temporary name.
    with atomic_path(output) as temp, open(temp, "wb") as handle:
        np.savez(handle, **arrays)


# ---------------------------------------------------------------- load and check


def load_golden(path: str | Path) -> Golden:
    """Read a golden .npz without unpickling anything; GoldenError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise GoldenError(f"{path}: golden file not found; create it with 'golden create'.")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with loaded as npz:
            missing = [name for name in ARRAYS if name not in npz.files]
            if missing:
                raise GoldenError(
                    f"{path}: not a golden file (no '{missing[0]}' array); "
                    "create it with 'golden create'."
                )
            arrays = {name: npz[name] for name in ARRAYS}
    except GoldenError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise GoldenError(
            f"{path}: not a readable golden .npz ({type(exc).__name__}); "
            "create it again with 'golden create'."
        ) from None
    try:
        metadata = json.loads(str(arrays["metadata"][0]))
    except (json.JSONDecodeError, IndexError):
        raise GoldenError(f"{path}: golden metadata is not JSON; create the file again.") from None
    if metadata.get("format") != FORMAT or metadata.get("format_version") != FORMAT_VERSION:
        raise GoldenError(
            f"{path}: golden format {metadata.get('format')!r} v{metadata.get('format_version')} "
            f"is not {FORMAT} v{FORMAT_VERSION}; create the file again."
        )
    golden = Golden(
        keypoints=arrays["keypoints"],
        attention_mask=arrays["attention_mask"],
        logits=arrays["logits"],
        logits_float64=arrays["logits_float64"],
        descriptions=[str(text) for text in arrays["descriptions"]],
        metadata=metadata,
    )
    rows = {len(golden.keypoints), len(golden.attention_mask), len(golden.logits)}
    if len(rows) != 1 or len(golden.descriptions) != len(golden.logits):
        raise GoldenError(f"{path}: golden arrays disagree on the row count; create it again.")
    return golden


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


def check_golden(tflite, golden: Golden, quantization: str):
    """Compare the file's logits on the golden inputs with the stored PyTorch logits."""
    from signbart_parity.compare import compare_logits
    from signbart_parity.tolerances import tolerance_for

    candidate = tflite(golden.keypoints, golden.attention_mask)
    tolerance = tolerance_for(quantization)
    # Rows outside the precision's input range (static-int8: keypoints beyond [0, 1]) are
    # not judged; the caller reports how many.
    judged = tolerance.judges(golden.keypoints)
    comparison = compare_logits(
        golden.logits[judged],
        candidate[judged],
        tolerance,
        masks=golden.attention_mask[judged],
    )
    oracle_err = float(np.abs(candidate - golden.logits_float64).max()) if len(candidate) else 0.0
    return comparison, candidate, oracle_err


def failing_rows(golden: Golden, candidate: np.ndarray, quantization: str) -> list[str]:
    from signbart_parity.tolerances import tolerance_for

    reference = golden.logits.astype(np.float64)
    tolerance = tolerance_for(quantization)
    bound = tolerance.bound(reference)
    diff = np.abs(candidate - reference)
    over = (diff > bound).any(axis=1) | (candidate.argmax(1) != reference.argmax(1))
    over &= tolerance.judges(golden.keypoints)
    return [
        f"row {row}: {golden.descriptions[row]}: max abs err {diff[row].max():.3g}"
        for row in np.flatnonzero(over)
    ]


def create_command(args: argparse.Namespace, *, progress: Progress) -> int:
    from signbart_parity.default_model import resolve_model_paths

    config_path, checkpoint_path = resolve_model_paths(args.config, args.checkpoint)
    golden = create_golden(
        config_path=config_path,
        checkpoint_path=checkpoint_path,
        seq_len=args.seq_len,
        output=args.output,
        samples=args.samples,
        progress=progress,
    )
    real = len(golden.metadata["real_samples"])
    print(
        f"wrote {args.output}: {len(golden.logits)} rows ({golden.metadata['generated_rows']} "
        f"generated, {real} real) at seq_len {golden.seq_len}, {golden.logits.shape[1]} labels"
    )
    return 0


def check_command(args: argparse.Namespace) -> int:
    from signbart_parity.convert import check_quantization
    from signbart_parity.runtime import TFLiteModel

    check_quantization(args.quantization)
    golden = load_golden(args.golden)
    tflite = TFLiteModel(args.tflite, runtime=args.runtime)
    check_fits(golden, tflite.signature, Path(args.tflite), Path(args.golden))
    comparison, candidate, oracle_err = check_golden(tflite, golden, args.quantization)
    skipped = len(candidate) - comparison.examples
    not_judged = f", {skipped} outside the precision's input range not judged" if skipped else ""
    print(
        f"golden check of {args.tflite} ({tflite.runtime} runtime) against {args.golden} "
        f"({len(candidate)} rows{not_judged}):"
    )
    for warning in tflite.signature.warnings():
        print(f"  warning: {warning}")
    print("  " + comparison.message(args.quantization).replace("\n", "\n  "))
    print(f"  max abs err against the float64 oracle: {oracle_err:.3g}")
    for line in failing_rows(golden, candidate, args.quantization)[:10]:
        print(f"  {line}")
    return 0 if comparison else 1

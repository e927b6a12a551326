"""``signbart-parity convert``: a checkpoint to a .tflite file, checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from signbart_parity.checks.properties import logits_parity
from signbart_parity.checks.tolerances import SEED_CHECK, tolerance_for
from signbart_parity.cli import common
from signbart_parity.cli.common import progress as _progress
from signbart_parity.errors import OutputPathError
from signbart_parity.export.convert import convert
from signbart_parity.inputs.calibration import calibration_sets
from signbart_parity.inputs.generators import SEED_GUIDE_INPUT_NAMES, seed_guide_inputs
from signbart_parity.model.default import load_model_or_default, resolve_model_paths
from signbart_parity.outputs import output_file
from signbart_parity.runtime.provision.venvs import default_cache_root
from signbart_parity.runtime.run.tflite import TFLiteModel
from signbart_parity.targets import precision_label


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "convert", help="convert a checkpoint to .tflite and check it against PyTorch"
    )
    common.add_model_options(parser)
    parser.add_argument(
        "--output",
        "-o",
        type=str,  # a str keeps the trailing slash of "out/" (Path drops it)
        required=True,
        metavar="TFLITE",
        help="where to write the .tflite file (written atomically); a folder (out/) gets "
        "<checkpoint>-seq<N>-<precision>.tflite inside it",
    )
    common.add_seq_len_option(parser, buckets=True)
    common.add_quantization_option(parser, "precision of the file")
    parser.add_argument(
        "--test",
        action="store_true",
        help="also run the file on random inputs and print its signature",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="the export cache: a file the same checkpoint, config, seq_len, precision and "
        "tool versions made (a gate run, an earlier convert) is copied from it, not converted "
        "again; what is converted is kept there. Default: the folder the gate converts into "
        "without --parity-cache ($SIGNBART_PARITY_CACHE, else the user cache folder)",
    )
    common.add_output_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return convert_command(
        config=args.config,
        checkpoint=args.checkpoint,
        output=args.output,
        seq_len=args.seq_len,
        quantization=args.quantization,
        test=args.test,
        progress=_progress,
        cache=args.cache,
    )


def describe_signature(signature) -> list[str]:
    """The app contract, one line per tensor, naming the role of each input."""
    lines = []
    for position, spec in enumerate(signature.inputs):
        role = "keypoints" if len(spec.shape) == 4 else "attention_mask (1 = valid frame)"
        lines.append(f"  input {position}: {spec.name}  {spec.dtype}{list(spec.shape)}  {role}")
    for position, spec in enumerate(signature.outputs):
        lines.append(f"  output {position}: {spec.name}  {spec.dtype}{list(spec.shape)}  logits")
    return lines


def convert_command(
    *,
    config: Path | None,
    checkpoint: Path | None,
    output: str | Path,
    seq_len: tuple[int, ...],
    quantization: str,
    test: bool,
    progress,
    cache: Path | None = None,
) -> int:
    """Convert (or copy the export cache's file); check every signature of the file against
    PyTorch on fixed inputs."""
    config_path, checkpoint_path = resolve_model_paths(config, checkpoint)
    output = output_file(
        output,
        inputs=(config_path, checkpoint_path),
        default_name=_default_name(checkpoint, seq_len, precision_label(quantization)),
    )
    cache = _cache_folder(cache if cache is not None else default_cache_root())
    model, model_config = load_model_or_default(config, checkpoint, progress=progress)
    model_config.check_seq_lens(seq_len)  # before calibration data is generated
    calibration = None
    if quantization == "static-int8":
        calibration = calibration_sets(model_config, seq_len)
        progress(f"calibrating static-int8 on {calibration[seq_len[0]].describe()} per bucket")
    result = convert(
        model,
        seq_len=seq_len,
        output=output,
        quantization=quantization,
        calibration=calibration,
        progress=progress,
        cache=cache,
    )
    try:  # from here on the file is complete and in place, whenever Ctrl-C or SIGTERM comes
        _print_wrote(result, quantization, seq_len)
        tolerance = SEED_CHECK if quantization == "none" else tolerance_for(quantization)
        return _check(result, model, model_config, tolerance, test)
    except KeyboardInterrupt as exc:
        # Say so rather than "no partial output".
        exc.add_note(f"{result.path} was written but not checked against PyTorch")
        raise


def _print_wrote(result, quantization: str, seq_len: tuple[int, ...]) -> None:
    """The ``wrote`` line: the file, its size and precision, and how it was made."""
    lengths = ",".join(map(str, seq_len))
    made = (
        f"from the export cache, not converted again: {result.cached_from}"
        if result.cached_from is not None
        else f"converted in {result.seconds:.1f} s"
    )
    size = f"{result.size_bytes / 1e6:.2f} MB"
    precision = precision_label(quantization)
    print(f"wrote {result.path} ({size}, {precision}, seq_len {lengths}, {made})")


def _cache_folder(path: Path) -> Path:
    """The export cache folder, made now: OutputPathError naming the fix when it cannot be."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path}: is a file, not a folder; give --cache a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            f"{path}: the export cache folder cannot be made ({exc.strerror}); "
            "give --cache a folder you can write."
        ) from None
    return path


def _default_name(checkpoint: Path | None, seq_len: tuple[int, ...], precision: str) -> str:
    stem = Path(checkpoint).stem if checkpoint is not None else "signbart"
    return f"{stem}-seq{'-'.join(map(str, seq_len))}-{precision}.tflite"


def _check(result, model, model_config, tolerance, test: bool) -> int:
    """Every signature of the written file against PyTorch on the seed-guide inputs."""
    passed = True
    for name in result.signatures:
        tflite = TFLiteModel(result.path, signature=name)
        keypoints, masks = seed_guide_inputs(model_config.min_input_keypoints, tflite.seq_len)
        comparison = logits_parity(model, tflite, tolerance, keypoints, masks)
        where = f"signature {name} " if len(result.signatures) > 1 else ""
        print(
            f"checked {where}against PyTorch on {len(masks)} inputs "
            f"({', '.join(SEED_GUIDE_INPUT_NAMES)}):"
        )
        print("  " + comparison.message().replace("\n", "\n  "))
        passed &= comparison.passed
        if test:
            _smoke_test(tflite, model_config.min_input_keypoints)
    return 0 if passed else 1


SMOKE_TEST_SEED = 0  # the same input, so the same line, on every run


def _smoke_test(tflite, num_keypoints: int) -> None:
    rng = np.random.default_rng(SMOKE_TEST_SEED)
    keypoints = rng.random((1, tflite.seq_len, num_keypoints, 2), dtype=np.float32)
    logits = tflite(keypoints, np.ones((1, tflite.seq_len), dtype=np.int64))[0]
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    best = int(np.argmax(probabilities))
    print(
        f"test run ({tflite.runtime} runtime, seeded random input, all frames valid): "
        f"predicted class {best} with confidence {probabilities[best]:.3f}"
    )
    name = f" {tflite.signature.name}" if tflite.signature.name else ""
    print(f"signature{name} (what an app must pass):")
    print("\n".join(describe_signature(tflite.signature)))
    mask_dtype = tflite.signature.attention_mask.dtype
    note = "" if mask_dtype == "int64" else " (not int64: the converter narrowed it)"
    print(f"  -> pass the attention mask as {mask_dtype}{note}.")

"""Options several commands share, and how commands report progress."""

from __future__ import annotations

import argparse

from signbart_parity import argtypes
from signbart_parity.cli import progress as shown
from signbart_parity.options import (
    ONE_QUANTIZATION,
    ONE_RUNTIME,
    QUANTIZATION_WORDS,
    add_to_cli,
)


def progress(message: str) -> None:
    """A long step begins: shown as ``cli/progress.py`` chose (live, a line, or nothing)."""
    shown.say(message)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    add_to_cli(parser, "config", metavar="YAML")
    add_to_cli(parser, "checkpoint", metavar="PTH")


def add_seq_len_option(
    parser: argparse.ArgumentParser,
    *,
    required: bool = False,
    buckets: bool = False,
    what: str = "frames per sequence the file takes",
) -> None:
    """``--seq-len T`` (also the seed guide's spelling ``--seq_len``); with ``buckets``,
    ``T,T,...`` makes one bundle file with a signature per length. The range check comes
    once the config is read, which knows max_position_embeddings."""
    if buckets:
        what += "; several (16,32,64,128) make one file with a seq_<T> signature per length"
    parser.add_argument(
        "--seq-len",
        "--seq_len",
        dest="seq_len",
        type=argtypes.seq_lens if buckets else argtypes.whole_number,
        metavar="T,T..." if buckets else "T",
        required=required,
        default=None if required else ((64,) if buckets else 64),
        help=what + ("." if required else ". Default: 64"),
    )


def add_quantization_option(parser: argparse.ArgumentParser, what: str) -> None:
    add_to_cli(
        parser,
        "quantization",
        **ONE_QUANTIZATION | {"help": f"{what}: {QUANTIZATION_WORDS}. Default: fp32"},
    )


def add_file_precision_option(parser: argparse.ArgumentParser) -> None:
    """``--quantization`` of a command handed a .tflite: a check of what the file holds."""
    add_to_cli(
        parser,
        "quantization",
        **ONE_QUANTIZATION
        | {
            "default": None,
            "help": f"the precision you expect the file to hold ({QUANTIZATION_WORDS}); "
            "a different one is refused. Default: read from the file",
        },
    )


def add_runtime_option(parser: argparse.ArgumentParser) -> None:
    add_to_cli(parser, "runtime", **ONE_RUNTIME)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--verbose`` (the toolchain's logs through) and ``--quiet`` (no progress)."""
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="let the toolchain's own logs (TensorFlow, TFLite, torch, the quantizer) through",
    )
    shown.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress lines: only results, warnings and errors",
    )


def add_samples_option(parser: argparse.ArgumentParser, help: str) -> None:
    add_to_cli(parser, "samples", action="extend", default=[], metavar="PATH", help=help)

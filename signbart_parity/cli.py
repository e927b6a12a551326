"""``signbart-parity``: convert, check and inspect SignBart TFLite files.

Exit codes: 0 success, 1 parity check failed, 2 bad input (one line, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from signbart_parity.errors import ParityInputError

EXIT_OK, EXIT_PARITY_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="YAML",
        help="SignBart YAML config. Default: the embedded default's (configs/arabic-asl.yaml).",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        metavar="PTH",
        help="checkpoint (.pth, either published layout). Default: the embedded default model.",
    )


def build_parser() -> argparse.ArgumentParser:
    from signbart_parity.convert import QUANTIZATIONS

    parser = argparse.ArgumentParser(
        prog="signbart-parity",
        description="Convert SignBart checkpoints to TFLite and prove the file matches.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser(
        "convert", help="convert a checkpoint to .tflite and check it against PyTorch"
    )
    _add_model_options(convert)
    convert.add_argument(
        "--output",
        "-o",
        type=Path,
        required=True,
        metavar="TFLITE",
        help="where to write the .tflite file (written atomically)",
    )
    convert.add_argument(
        "--seq-len",
        "--seq_len",
        dest="seq_len",
        type=_positive_int,
        default=64,
        metavar="T",
        help="frames per sequence the file accepts. Default: %(default)r",
    )
    convert.add_argument(
        "--quantization",
        choices=QUANTIZATIONS,
        default="none",
        help="precision of the file. Default: %(default)r",
    )
    convert.add_argument(
        "--test",
        action="store_true",
        help="also run the file on random inputs and print its signature",
    )
    convert.set_defaults(handler=run_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ParityInputError as exc:
        print(f"signbart-parity: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("signbart-parity: interrupted; no partial output was left.", file=sys.stderr)
        return 130


def run_convert(args: argparse.Namespace) -> int:
    from signbart_parity.commands import convert_command

    return convert_command(
        config=args.config,
        checkpoint=args.checkpoint,
        output=args.output,
        seq_len=args.seq_len,
        quantization=args.quantization,
        test=args.test,
        progress=_progress,
    )


if __name__ == "__main__":
    sys.exit(main())

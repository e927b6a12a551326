"""``signbart-parity``: convert, check and inspect SignBart TFLite files.

Exit codes: 0 success, 1 parity check failed, 2 bad input (one line, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from signbart_parity.errors import ParityInputError
from signbart_parity.interrupts import Terminated, terminate_as_interrupt

EXIT_OK, EXIT_PARITY_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM, as shells report


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (``signbart-parity: error: ...``) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _whole_number(text: str) -> int:
    """Range checks come later, where the config says what the range is."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


def _count(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a count of at least 1, got {text!r}")
    return value


def _seq_lens(text: str) -> tuple[int, ...]:
    """``T`` or ``T,T,...`` (buckets of one bundle file), sorted, without repeats."""
    values = tuple(_whole_number(part.strip()) for part in text.split(","))
    return tuple(sorted(set(values)))


def _add_seq_len_option(
    parser: argparse.ArgumentParser, *, required: bool = False, buckets: bool = False
) -> None:
    """``--seq-len T`` (also the seed guide's spelling ``--seq_len``); with ``buckets``,
    ``T,T,...`` makes one bundle file with a signature per length. The range check comes
    once the config is read, which knows max_position_embeddings."""
    what = "frames per sequence the file takes"
    if buckets:
        what += "; several (16,32,64,128) make one file with a seq_<T> signature per length"
    parser.add_argument(
        "--seq-len",
        "--seq_len",
        dest="seq_len",
        type=_seq_lens if buckets else _whole_number,
        metavar="T,T..." if buckets else "T",
        required=required,
        default=None if required else ((64,) if buckets else 64),
        help=what + ("." if required else ". Default: 64"),
    )


def _add_runtime_option(parser: argparse.ArgumentParser) -> None:
    from signbart_parity.runtime import RUNTIMES

    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="litert",
        help="TFLite runtime: litert (Interpreter), tensorflow (tf.lite.Interpreter), compiled "
        "(ai_edge_litert CompiledModel, CPU). Default: %(default)r",
    )


def _add_verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="let the toolchain's own logs (TensorFlow, TFLite, torch, the quantizer) through",
    )


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

    parser = _OneLineParser(
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
    _add_seq_len_option(convert, buckets=True)
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
    _add_verbose_option(convert)
    convert.set_defaults(handler=run_convert)
    _add_verify_parser(commands, QUANTIZATIONS)
    _add_golden_parser(commands, QUANTIZATIONS)
    _add_report_parser(commands)
    _add_evaluate_parser(commands)
    _add_bench_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verbose:
        from signbart_parity.quiet import quiet_toolchain

        quiet_toolchain()
    try:
        with terminate_as_interrupt():
            return args.handler(args)
    except ParityInputError as exc:
        print(f"signbart-parity: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        print("signbart-parity: interrupted; no partial output was left.", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


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


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _add_verify_parser(commands, quantizations: Sequence[str]) -> None:
    verify = commands.add_parser(
        "verify", help="check a .tflite file against a checkpoint (exit 0 holds, 1 violated)"
    )
    _add_model_options(verify)
    verify.add_argument(
        "--tflite",
        type=Path,
        required=True,
        metavar="TFLITE",
        help="the file to verify; seq_len and signature are read from it",
    )
    verify.add_argument(
        "--quantization",
        choices=quantizations,
        default="none",
        help="precision the file was exported at. Default: %(default)r",
    )
    verify.add_argument(
        "--examples",
        type=_count,
        default=72,
        metavar="N",
        help="generated examples (cycling every keypoint x mask kind). Default: %(default)r",
    )
    verify.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="seed of the generated examples. Default: %(default)r",
    )
    verify.add_argument(
        "--samples",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="real .pkl samples or folders of them",
    )
    verify.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="write parity.json, parity.md and parity.html into DIR",
    )
    verify.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="OLD_TFLITE",
        help="the shipped file: fail on contract changes, count prediction flips",
    )
    verify.add_argument(
        "--max-flip-rate",
        type=_rate,
        default=0.0,
        metavar="R",
        help="share of top-1 flips against --baseline allowed. Default: %(default)r",
    )
    _add_runtime_option(verify)
    _add_verbose_option(verify)
    verify.set_defaults(handler=run_verify)


def _add_golden_parser(commands, quantizations: Sequence[str]) -> None:
    golden = commands.add_parser("golden", help="create or check a golden-logits .npz file")
    actions = golden.add_subparsers(dest="golden_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="store fixed inputs with PyTorch logits")
    _add_model_options(create)
    _add_seq_len_option(create, required=True, buckets=True)
    create.add_argument(
        "--output",
        "-o",
        type=Path,
        required=True,
        metavar="NPZ",
        help="where to write the golden .npz (written atomically)",
    )
    create.add_argument(
        "--samples",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="real .pkl samples or folders of them to include",
    )
    _add_verbose_option(create)
    create.set_defaults(handler=run_golden_create)
    check = actions.add_parser("check", help="compare a .tflite file with a golden .npz")
    check.add_argument("--tflite", type=Path, required=True, metavar="TFLITE")
    check.add_argument("--golden", type=Path, required=True, metavar="NPZ")
    check.add_argument(
        "--quantization",
        choices=quantizations,
        default="none",
        help="precision the file was exported at. Default: %(default)r",
    )
    _add_runtime_option(check)
    _add_verbose_option(check)
    check.set_defaults(handler=run_golden_check)


def _add_report_parser(commands) -> None:
    report = commands.add_parser("report", help="work with parity.json reports")
    actions = report.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    merge = actions.add_parser(
        "merge", help="merge shard reports into one (exit 1 when the merged run failed)"
    )
    merge.add_argument("reports", type=Path, nargs="+", metavar="PARITY_JSON")
    merge.add_argument(
        "--output",
        "-o",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for the merged parity.json, parity.md and parity.html",
    )
    _add_verbose_option(merge)
    merge.set_defaults(handler=run_report_merge)


def run_verify(args: argparse.Namespace) -> int:
    from signbart_parity.verify import verify_command

    return verify_command(args, progress=_progress)


def run_golden_create(args: argparse.Namespace) -> int:
    from signbart_parity.golden import create_command

    return create_command(args, progress=_progress)


def run_golden_check(args: argparse.Namespace) -> int:
    from signbart_parity.golden import check_command

    return check_command(args)


def run_report_merge(args: argparse.Namespace) -> int:
    from signbart_parity.report import merge_command

    return merge_command(args.reports, args.output)


def _add_evaluate_parser(commands) -> None:
    from signbart_parity.precisions import parse_quantizations

    evaluate = commands.add_parser(
        "evaluate", help="accuracy of PyTorch and each TFLite precision on a labelled dataset"
    )
    _add_model_options(evaluate)
    evaluate.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="DIR",
        help="class folders of .pkl samples, optional label2id.json",
    )
    _add_seq_len_option(evaluate)
    evaluate.add_argument(
        "--quantization",
        type=parse_quantizations,
        default="none,dynamic-int8",
        metavar="Q,...",
        help="precisions to convert and evaluate (none = fp32). Default: %(default)r",
    )
    evaluate.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="write evaluate.json and evaluate.html into DIR",
    )
    _add_verbose_option(evaluate)
    evaluate.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from signbart_parity.evaluate import evaluate_command

    return evaluate_command(
        config=args.config,
        checkpoint=args.checkpoint,
        data=args.data,
        seq_len=args.seq_len,
        quantizations=args.quantization,
        report=args.report,
        progress=_progress,
    )


def _add_bench_parser(commands) -> None:
    from signbart_parity.bench import DEFAULT_QUANTIZATIONS, parse_runtimes, parse_threads
    from signbart_parity.precisions import parse_quantizations

    bench = commands.add_parser(
        "bench", help="latency and file size of PyTorch eager and each TFLite precision"
    )
    _add_model_options(bench)
    _add_seq_len_option(bench, buckets=True)
    bench.add_argument(
        "--threads",
        type=parse_threads,
        default="1,2",
        metavar="N,...",
        help="thread counts to time. Default: %(default)r",
    )
    bench.add_argument(
        "--quantization",
        type=parse_quantizations,
        default=",".join(DEFAULT_QUANTIZATIONS),
        metavar="Q,...",
        help="precisions to convert and time. Default: %(default)r",
    )
    bench.add_argument(
        "--iterations",
        type=_count,
        default=200,
        metavar="N",
        help="timed calls per setting. Default: %(default)r",
    )
    bench.add_argument(
        "--runtime",
        type=parse_runtimes,
        default="litert",
        metavar="R,...",
        help="TFLite runtimes to time, side by side (litert, tensorflow, compiled); the first "
        "gives the ratios. Default: %(default)r",
    )
    bench.add_argument(
        "--json",
        action="store_true",
        help="also print the summary as one JSON object on the last line",
    )
    _add_verbose_option(bench)
    bench.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from signbart_parity.bench import bench_command

    return bench_command(
        config=args.config,
        checkpoint=args.checkpoint,
        seq_len=args.seq_len,
        threads=args.threads,
        quantizations=args.quantization,
        iterations=args.iterations,
        as_json=args.json,
        progress=_progress,
        runtimes=args.runtime,
    )


if __name__ == "__main__":
    sys.exit(main())

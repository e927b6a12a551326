"""``signbart-parity repair``: the smallest file at a precision that passes every target.

The search is ``checks/repair.py``'s; this module checks the input, exports the fp32 file
(through the export cache), prints the table of the candidates tried and writes the chosen
one atomically, its recipe in the provenance stamp.

Exit codes: 0 a file was written, 1 nothing passed within the budget (nothing written),
2 bad input.
"""

from __future__ import annotations

import argparse
import time

from signbart_parity.checks.repair import REPAIRABLE, Judge, repair_to
from signbart_parity.cli import common
from signbart_parity.errors import ParityInputError
from signbart_parity.export.exporter import Exporter
from signbart_parity.model.default import load_model_or_default, resolve_model_paths
from signbart_parity.options import ONE_QUANTIZATION, add_to_cli
from signbart_parity.outputs import output_file
from signbart_parity.reports.repair import nothing_passed, table_lines
from signbart_parity.runtime.provision.venvs import default_cache_root
from signbart_parity.targets import precision_label


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "repair",
        help="search quantizer recipes for the smallest file that passes every runtime "
        "(exit 0 written, 1 none passed)",
    )
    common.add_model_options(parser)
    common.add_seq_len_option(parser, required=True, buckets=True)
    add_to_cli(
        parser,
        "quantization",
        **ONE_QUANTIZATION
        | {
            "default": "dynamic-int8",
            "help": "the precision the file must keep: dynamic-int8 or weight-only-int8. "
            "Default: dynamic-int8",
        },
    )
    add_to_cli(parser, "runtime", help="the targets the app ships; every one must pass")
    parser.add_argument(
        "--output",
        "-o",
        type=str,
        required=True,
        metavar="TFLITE",
        help="where to write the chosen file (atomically; nothing is written if none passes)",
    )
    add_to_cli(parser, "budget")
    add_to_cli(parser, "examples")
    add_to_cli(parser, "seed")
    add_to_cli(parser, "judge-outside-contract")
    common.add_output_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return repair_command(args, progress=common.progress)


def repair_command(args: argparse.Namespace, *, progress) -> int:
    from signbart_parity.export.cache import ExportCache

    started = time.monotonic()
    _check_precision(args.quantization)
    config_path, checkpoint_path = resolve_model_paths(args.config, args.checkpoint)
    output = output_file(args.output, inputs=(config_path, checkpoint_path))
    model, config = load_model_or_default(args.config, args.checkpoint, progress=progress)
    config.check_seq_lens(args.seq_len)
    exporter = Exporter(model, cache=ExportCache(default_cache_root()), progress=progress)
    judge = Judge(
        model,
        args.quantization,
        tuple(args.runtime),
        args.examples,
        args.seed,
        judge_outside=args.judge_outside_contract,
    )
    repaired = repair_to(
        output,
        judge,
        exporter=exporter,
        lengths=tuple(args.seq_len),
        deadline=started + args.budget,
        progress=progress,
    )
    result, fp32_bytes = repaired.result, repaired.fp32_bytes
    print("\n".join(table_lines(result, judge.runtimes, fp32_bytes)))
    if result.chosen is None:
        print(nothing_passed(result, args.budget))
        return 1
    chosen, size = result.chosen, output.stat().st_size  # stamped: its own size
    print(
        f"wrote {output} ({size / 1e6:.2f} MB, {size / fp32_bytes:.0%} of fp32; recipe: "
        f"{chosen.recipe.text}); it passes {', '.join(judge.runtimes)}"
    )
    return 0


def _check_precision(quantization: str) -> None:
    if quantization not in REPAIRABLE:
        raise ParityInputError(
            f"repair searches int8 weight recipes; --quantization "
            f"{precision_label(quantization)} has none to vary: pass one of "
            f"{', '.join(REPAIRABLE)}."
        )

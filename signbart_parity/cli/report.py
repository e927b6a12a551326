"""``signbart-parity report merge``: shard reports of one run into the report of the run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from signbart_parity.cli import common
from signbart_parity.outputs import output_folder
from signbart_parity.reports.merge import load_report, merge_reports
from signbart_parity.reports.text import headline_with_run
from signbart_parity.reports.write import REPORT_FILES, write_report


def add_parser(commands) -> None:
    report = commands.add_parser("report", help="work with parity.json reports")
    actions = report.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    merge = actions.add_parser(
        "merge", help="merge shard reports into one (exit 1 when the merged run failed)"
    )
    merge.add_argument(
        "reports",
        type=Path,
        nargs="+",
        metavar="PARITY_JSON",
        help="the shards' parity.json files, merged in the order given",
    )
    merge.add_argument(
        "--output",
        "-o",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for the merged parity.json, parity.md and parity.html",
    )
    common.add_output_options(merge)
    merge.set_defaults(handler=lambda args: merge_command(args.reports, args.output))


def merge_command(paths: Sequence[Path], output: Path) -> int:
    """``signbart-parity report merge``: exit 0 when the merged run passed, 1 when it failed.

    Every input is read and checked before anything is written, so a bad shard leaves
    ``output`` untouched.
    """
    output = output_folder(output, inputs=paths, files=REPORT_FILES)
    reports = [load_report(path) for path in paths]
    merged = merge_reports(reports, sources=[str(path) for path in paths])
    written = write_report(merged, output)
    print(
        f"merged {len(reports)} reports ({len(merged.all_rows())} results): "
        f"{headline_with_run(merged)}; wrote {', '.join(str(p) for p in written.values())}"
    )
    return 0 if merged.passed else 1

"""Writing a report: parity.json, parity.md and parity.html, each atomically."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from signbart_parity.fileio import write_json_atomic, write_text_atomic
from signbart_parity.reports.html import render_html
from signbart_parity.reports.markdown import render_markdown
from signbart_parity.reports.model import Report

REPORT_FILES = ("parity.json", "parity.md", "parity.html")


def write_report(report: Report, directory: str | Path) -> dict[str, Path]:
    """Write the three files into ``directory``; also append the Markdown summary to
    ``$GITHUB_STEP_SUMMARY`` when it is set."""
    directory = Path(directory)
    markdown = render_markdown(report)
    paths = {name: directory / name for name in REPORT_FILES}
    write_json_atomic(paths["parity.json"], report.to_dict())
    write_text_atomic(paths["parity.md"], markdown)
    write_text_atomic(paths["parity.html"], render_html(report))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(markdown + "\n")
        except OSError as exc:  # the report files exist; a job summary is a courtesy
            print(f"warning: cannot append to $GITHUB_STEP_SUMMARY ({exc})", file=sys.stderr)
    return paths

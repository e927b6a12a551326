"""parity.md: the report at a glance (also what a GitHub job summary shows).

Every value comes from files and options a user (or an attacker's pull request) controls, so
each is escaped for Markdown: HTML, backticks and ``|`` (which would split a table row)
shown as text, control characters and line breaks removed (``md_text``, ``md_code``).
"""

from __future__ import annotations

import re

from signbart_parity.reports.columns import SUMMARY, summary_cells
from signbart_parity.reports.corpus import corpus_headline, corpus_lines
from signbart_parity.reports.model import Report
from signbart_parity.reports.repair import fix_entries
from signbart_parity.reports.text import (
    compatibility_findings,
    compatibility_matrix,
    divergence_lines,
    failure_lines,
    file_line,
    headline_with_run,
    not_checked_lines,
    outside_lines,
    provenance_lines,
    versions,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MARKDOWN = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "`": "\\`"}


def md_text(text: object) -> str:
    """``text`` as Markdown shows it literally: no HTML, code spans, table breaks or lines."""
    flat = _CONTROL.sub(" ", str(text))
    return "".join(_MARKDOWN.get(char, char) for char in flat)


def md_code(text: object) -> str:
    """``text`` as one inline code span, whatever backticks it holds (a longer fence)."""
    flat = _CONTROL.sub(" ", str(text))
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or longest else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def md_block(lines, indent: str = "  ") -> list[str]:
    """``lines`` as a fenced code block (inside a list item), shown literally: the fence is
    longer than any backtick run they hold, so none of them can close it."""
    flat = [_CONTROL.sub(" ", str(line)) for line in lines]
    longest = max((len(run) for line in flat for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{indent}{fence}", *(f"{indent}{line}" for line in flat), f"{indent}{fence}"]


def _items(lines) -> list[str]:
    return [f"- {md_text(line)}" for line in lines]


def render_markdown(report: Report) -> str:
    lines = [f"## SignBart TFLite parity — {md_text(headline_with_run(report))}", ""]
    lines.append(f"checkpoint: {md_code(file_line(report.checkpoint))}  ")
    lines.append(f"config: {md_code(file_line(report.config))}")
    for line in provenance_lines(report):
        lines[-1] += "  "
        lines.append(md_text(line))
    lines.append("")
    lines.append("| " + " | ".join(column.header for column in SUMMARY) + " |")
    lines.append("|" + "|".join("---:" if c.numeric else "---" for c in SUMMARY) + "|")
    result = [column.header for column in SUMMARY].index("result")
    for row in summary_cells(report):
        row = [md_text(cell) for cell in row]
        row[result] = f"**{row[result]}**" if row[result] == "FAIL" else row[result]
        lines.append("| " + " | ".join(row) + " |")
    if report.verdict_reasons():
        lines += ["", "**Why FAIL:** " + md_text("; ".join(report.verdict_reasons()))]
    skipped = not_checked_lines(report)
    if skipped:
        lines += ["", "### Not checked", ""] + _items(skipped)
    outside = outside_lines(report)
    if outside:
        heading, *numbers = outside
        lines += ["", f"### {md_text(heading)}", ""] + _items(line.strip() for line in numbers)
    matrix = compatibility_matrix(report)
    if matrix is not None:
        header, body = matrix
        lines += ["", "### Runtime builds", ""]
        lines.append("| " + " | ".join(md_text(cell) for cell in header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines += ["| " + " | ".join(md_text(cell) for cell in cells) + " |" for cells in body]
        lines += _items(compatibility_findings(report))
    failures = failure_lines(report)
    if failures:
        lines += ["", "### Failed checks", ""] + _items(failures)
    for line in divergence_lines(report):
        lines += ["", f"- {md_text(line)}"]
    fixes = fix_entries(report)
    if fixes:
        lines += ["", "### Fix", ""]
    for fix in fixes:
        lines.append(f"- {md_text(f'{fix.target}: {fix.sentence}')}; repair command:")
        lines += ["", *md_block([fix.command])]
        if fix.table:
            lines += ["", *md_block(fix.table)]
    if report.corpus is not None:
        lines += ["", "### Counterexample corpus", "", md_text(corpus_headline(report.corpus))]
        lines += [""] + _items(corpus_lines(report.corpus))
    shown = ", ".join(f"{name} {version}" for name, version in versions(report))
    if shown:
        lines += ["", f"versions: {md_text(shown)}"]
    lines.append("")
    return "\n".join(lines)

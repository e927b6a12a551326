"""parity.md: the report at a glance (also what a GitHub job summary shows)."""

from __future__ import annotations

from signbart_parity.reports.columns import SUMMARY, summary_cells
from signbart_parity.reports.corpus import corpus_headline, corpus_lines
from signbart_parity.reports.model import Report
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


def render_markdown(report: Report) -> str:
    lines = [f"## SignBart TFLite parity — {headline_with_run(report)}", ""]
    lines.append(f"checkpoint: `{file_line(report.checkpoint)}`  ")
    lines.append(f"config: `{file_line(report.config)}`")
    for line in provenance_lines(report):
        lines[-1] += "  "
        lines.append(line)
    lines.append("")
    lines.append("| " + " | ".join(column.header for column in SUMMARY) + " |")
    lines.append("|" + "|".join("---:" if c.numeric else "---" for c in SUMMARY) + "|")
    result = [column.header for column in SUMMARY].index("result")
    for row in summary_cells(report):
        row[result] = f"**{row[result]}**" if row[result] == "FAIL" else row[result]
        lines.append("| " + " | ".join(row) + " |")
    if report.verdict_reasons():
        lines += ["", "**Why FAIL:** " + "; ".join(report.verdict_reasons())]
    skipped = not_checked_lines(report)
    if skipped:
        lines += ["", "### Not checked", ""] + [f"- {line}" for line in skipped]
    outside = outside_lines(report)
    if outside:
        lines += ["", f"### {outside[0]}", ""] + [f"- {line.strip()}" for line in outside[1:]]
    matrix = compatibility_matrix(report)
    if matrix is not None:
        header, body = matrix
        lines += ["", "### Runtime builds", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        lines += [f"- {line}" for line in compatibility_findings(report)]
    failures = failure_lines(report)
    if failures:
        lines += ["", "### Failed checks", ""] + [f"- {line}" for line in failures]
    for line in divergence_lines(report):
        lines += ["", f"- {line}"]
    if report.corpus is not None:
        lines += ["", "### Counterexample corpus", "", corpus_headline(report.corpus), ""]
        lines += [f"- {line}" for line in corpus_lines(report.corpus)]
    shown = ", ".join(f"{name} {version}" for name, version in versions(report))
    if shown:
        lines += ["", f"versions: {shown}"]
    lines.append("")
    return "\n".join(lines)

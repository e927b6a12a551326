"""The sentences every view of a report shares (Markdown, HTML, the terminal summary): the
headline, what failed, what was not checked, and which files were checked."""

from __future__ import annotations

from typing import Any

from signbart_parity.reports.model import Outcome, Report


def headline_with_run(report: Report) -> str:
    cache = (
        f"; {report.conversions} conversions, {report.cache_hits} cache hits"
        if report.kind != "verify"
        else ""
    )
    return f"{report.headline()}{cache}; {report.duration_s:.0f} s"


def file_line(part: Any) -> str:
    """A checked input file: its path, the start of its sha256, and its layout if known."""
    if not isinstance(part, dict) or not part:
        return "—"
    sha = part.get("sha256") or ""
    layout = f", {part['layout']}" if part.get("layout") else ""
    return f"{part.get('path', '?')} (sha256 {sha[:12]}{layout})"


def versions(report: Report) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in report.environment.items()]


def _where(outcome: Outcome) -> str:
    return str(outcome.target) if outcome.target is not None else "whole run"


def failure_lines(report: Report) -> list[str]:
    """One line per failed or errored check: what, where, and the first line of why."""
    return [
        f"{o.outcome.upper()} {o.check or o.nodeid} ({_where(o)}): {o.message or 'no message'}"
        + (f" [{o.nodeid}]" if o.check else "")
        for o in report.failures
    ]


def not_checked_lines(report: Report) -> list[str]:
    """Skipped checks grouped by reason: what was not checked, where, and why."""
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in report.not_checked:
        groups.setdefault((outcome.check or outcome.nodeid, outcome.message), []).append(outcome)
    lines = []
    for (check, reason), outcomes in groups.items():
        where = ", ".join(sorted({_where(o) for o in outcomes}))
        lines.append(f"{check}: NOT CHECKED on {where}: {reason or 'skipped'}")
    return lines


def divergence_lines(report: Report) -> list[str]:
    from signbart_parity.reports.columns import sorted_rows

    return [f"{row.target}: {row.divergence}" for row in sorted_rows(report) if row.divergence]

"""parity.html: one self-contained page (no scripts, no stylesheets or fonts from elsewhere,
no URLs), rendered from ``templates/parity.html.j2`` with autoescaping on; the charts are the
inline SVG of ``plots.py``."""

from __future__ import annotations

import functools

from signbart_parity.reports import columns, plots
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
from signbart_parity.targets import precision_label

TEMPLATE = "parity.html.j2"


@functools.cache
def _template():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("signbart_parity.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.globals.update(zip=zip, plain_columns=_plain_columns)
    return environment.get_template(TEMPLATE)


def _corpus(report: Report) -> list[str]:
    """The corpus headline, then one line per counterexample (empty without a corpus)."""
    if report.corpus is None:
        return []
    return [corpus_headline(report.corpus), *corpus_lines(report.corpus)]


def _plain_columns(*headers: str) -> tuple[columns.Column, ...]:
    return tuple(columns.Column(header, lambda item, _: str(item)) for header in headers)


def render_html(report: Report) -> str:
    rows = columns.sorted_rows(report)
    low, high = plots.log_range(rows)
    return _template().render(
        passed=report.passed,
        headline=headline_with_run(report),
        reasons=report.verdict_reasons(),
        checkpoint=file_line(report.checkpoint),
        config=file_line(report.config),
        provenance=provenance_lines(report),
        summary_columns=columns.SUMMARY,
        summary=columns.summary_cells(report),
        failures=failure_lines(report),
        matrix=compatibility_matrix(report),
        findings=compatibility_findings(report),
        divergences=divergence_lines(report),
        fixes=fix_entries(report),
        not_checked=not_checked_lines(report),
        outside=outside_lines(report),
        corpus=_corpus(report),
        histograms=[plots.histogram_svg(row, low, high) for row in rows],
        scatter=plots.scatter_svg(rows, low, high),
        worst_columns=columns.WORST,
        worst=columns.cells(columns.WORST, columns.worst_entries(report), report),
        tolerances=[[precision_label(k), v] for k, v in report.tolerances.items()],
        timing=str(report.timing.get("note", "")) if report.timing else "",
        versions=[list(pair) for pair in versions(report)],
    )

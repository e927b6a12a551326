"""Human-readable parity reports: parity.md (summary) and parity.html (one file, inline SVG).

Both are rendered from a ``report_model.Report``, the one schema the gate, ``verify`` and
``report merge`` write (``parity.json``). The verdict shown is ``Report.passed``: it is FAIL
whenever any check failed or errored, whatever the per-configuration rows say, and skipped
checks are listed as "not checked".

The HTML is self-contained: no scripts, no stylesheets or fonts from elsewhere, no URLs.
Plots are plain SVG drawn here, so no plotting dependency is needed.
"""

from __future__ import annotations

import html
import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from signbart_parity.convert import QUANTIZATIONS, precision_label
from signbart_parity.fileio import write_json_atomic, write_text_atomic
from signbart_parity.report_model import Outcome, Report, Row, Target, load_report, merge_reports

REPORT_FILES = ("parity.json", "parity.md", "parity.html")
# Errors below this are drawn in the lowest histogram bin (an exact 0 has no log10).
LOG10_FLOOR = -9.0
HISTOGRAM_BIN = 0.5
PRECISION_COLOURS = {
    "fp32": "#3266c8",
    "fp16": "#2a9d6f",
    "dynamic-int8": "#e07b1a",
    "weight-only-int8": "#8e5cc9",
    "static-int8": "#b8860b",
}
FAIL_COLOUR = "#d62728"
OTHER_COLOUR = "#777777"


def display_key(target: Target) -> tuple:
    """Order of rows in tables: seq_len, then fp32 first and QUANTIZATIONS order, runtime."""
    known = target.quantization in QUANTIZATIONS
    rank = QUANTIZATIONS.index(target.quantization) if known else len(QUANTIZATIONS)
    return (target.seq_len, rank, target.quantization, target.runtime)


def write_report(report: Report, directory: str | Path) -> dict[str, Path]:
    """Write parity.json, parity.md and parity.html into ``directory``, each atomically.

    Also appends the Markdown summary to ``$GITHUB_STEP_SUMMARY`` when it is set.
    """
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


# ---------------------------------------------------------------- shared formatting


def _err(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.2e}"


def _size(value: Any) -> str:
    return "—" if value is None else f"{int(value) / 1e6:.2f} MB"


def _agreement(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1%}"


def _oracle(row: Row) -> str:
    if row.oracle_max_abs_err is None and row.tflite_oracle_max_abs_err is None:
        return "—"
    return f"{_err(row.oracle_max_abs_err)} / {_err(row.tflite_oracle_max_abs_err)}"


def _latency(row: Row, report: Report) -> str:
    """Median TFLite latency of the row's file and PyTorch eager's at the same seq_len."""
    if row.latency_ms is None:
        return "—"
    torch_ms = report.torch_latency_ms.get(str(row.target.seq_len))
    torch_part = f" / {float(torch_ms):.2f}" if torch_ms is not None else ""
    return f"{float(row.latency_ms):.2f}{torch_part} ms"


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _sorted_rows(report: Report) -> list[Row]:
    return sorted(report.all_rows(), key=lambda row: display_key(row.target))


def _summary_rows(report: Report) -> list[list[str]]:
    return [
        [
            str(row.target.seq_len),
            precision_label(row.target.quantization),
            row.target.runtime,
            str(row.examples),
            _err(row.max_abs_err if row.examples else None),
            _err(row.max_rel_err if row.examples else None),
            _oracle(row),
            _agreement(row.top1_agreement),
            _verdict(report.row_passed(row)),
            _size(row.size_bytes),
            _latency(row, report),
        ]
        for row in _sorted_rows(report)
    ]


SUMMARY_HEADER = [
    "seq_len",
    "precision",
    "runtime",
    "examples",
    "max abs err",
    "max rel err",
    "float64 oracle (torch / tflite)",
    "top-1",
    "result",
    "size",
    "latency (tflite / torch)",
]


def _headline(report: Report) -> str:
    cache = (
        f"; {report.conversions} conversions, {report.cache_hits} cache hits"
        if report.kind != "verify"
        else ""
    )
    return f"{report.headline()}{cache}; {report.duration_s:.0f} s"


def _short_sha(part: Any) -> str:
    if not isinstance(part, dict) or not part:
        return "—"
    sha = part.get("sha256") or ""
    layout = f", {part['layout']}" if part.get("layout") else ""
    return f"{part.get('path', '?')} (sha256 {sha[:12]}{layout})"


def _versions(report: Report) -> list[tuple[str, str]]:
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


# ---------------------------------------------------------------- Markdown


def render_markdown(report: Report) -> str:
    """A compact summary readable at a glance (and in a GitHub job summary)."""
    lines = [f"## SignBart TFLite parity — {_headline(report)}", ""]
    lines.append(f"checkpoint: `{_short_sha(report.checkpoint)}`  ")
    lines.append(f"config: `{_short_sha(report.config)}`")
    lines.append("")
    lines.append("| " + " | ".join(SUMMARY_HEADER) + " |")
    alignment = ("---:" if i in (0, 3) else "---" for i in range(len(SUMMARY_HEADER)))
    lines.append("|" + "|".join(alignment) + "|")
    for row in _summary_rows(report):
        row[8] = f"**{row[8]}**" if row[8] == "FAIL" else row[8]
        lines.append("| " + " | ".join(row) + " |")
    if report.verdict_reasons():
        lines += ["", "**Why FAIL:** " + "; ".join(report.verdict_reasons())]
    failures = failure_lines(report)
    if failures:
        lines += ["", "### Failed checks", ""] + [f"- {line}" for line in failures]
    for row in _sorted_rows(report):
        if row.divergence:
            lines += ["", f"- {row.target}: {row.divergence}"]
    skipped = not_checked_lines(report)
    if skipped:
        lines += ["", "### Not checked", ""] + [f"- {line}" for line in skipped]
    versions = ", ".join(f"{name} {version}" for name, version in _versions(report))
    if versions:
        lines += ["", f"versions: {versions}"]
    lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- SVG plots


def _colour(precision: str) -> str:
    return PRECISION_COLOURS.get(precision, OTHER_COLOUR)


def _log_err(value: Any) -> float:
    value = float(value) if value is not None else 0.0
    if not math.isfinite(value):
        return 3.0
    return max(LOG10_FLOOR, math.log10(value)) if value > 0 else LOG10_FLOOR


def _samples(row: Row) -> list[dict]:
    return [s for s in row.samples if isinstance(s, dict) and "abs_err" in s]


def _log_range(rows: Sequence[Row]) -> tuple[float, float]:
    values = [_log_err(s["abs_err"]) for row in rows for s in _samples(row)]
    if not values:
        return LOG10_FLOOR, 0.0
    low = math.floor(min(values))
    high = math.ceil(max(values) + 1e-9)
    if high - low < 2:
        low, high = high - 2, high
    return low, high


def _tick_label(exponent: float) -> str:
    if exponent <= LOG10_FLOOR:
        return f"≤1e{int(exponent)}"
    return f"1e{int(exponent)}"


def histogram_svg(row: Row, low: float, high: float, *, width=360, height=190) -> str:
    """Histogram of log10 |tflite - torch| per example, passed stacked under failed."""
    samples = _samples(row)
    precision = precision_label(row.target.quantization)
    bins = max(1, round((high - low) / HISTOGRAM_BIN))
    passed_counts, failed_counts = [0] * bins, [0] * bins
    for sample in samples:
        index = min(bins - 1, max(0, int((_log_err(sample["abs_err"]) - low) / HISTOGRAM_BIN)))
        (passed_counts if sample.get("passed", True) else failed_counts)[index] += 1
    left, right, top, bottom = 36, 10, 26, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([p + f for p, f in zip(passed_counts, failed_counts, strict=True)] + [1])
    bar_w = plot_w / bins
    title = f"seq_len {row.target.seq_len} · {precision} · {row.target.runtime} · n={len(samples)}"
    parts = [
        f'<svg class="plot histogram" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="10" y="16" class="title">{html.escape(title)}</text>',
        _axes(left, top, plot_w, plot_h),
    ]
    for i in range(bins):
        x = left + i * bar_w
        base = top + plot_h
        for count, colour in (
            (passed_counts[i], _colour(precision)),
            (failed_counts[i], FAIL_COLOUR),
        ):
            if not count:
                continue
            h = plot_h * count / peak
            base -= h
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{base:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{count} examples</title></rect>'
            )
    label_every = 1 if high - low <= 8 else 2  # keep labels apart on wide ranges
    for exponent in range(math.ceil(low), math.floor(high) + 1):
        x = left + (exponent - low) / (high - low) * plot_w
        label = _tick_label(exponent) if (exponent - math.ceil(low)) % label_every == 0 else ""
        parts.append(_xtick(x, top + plot_h, label))
    parts.append(
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="tick">{peak}</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="tick">0</text>'
        f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" class="axis">'
        "max |difference| per example</text>"
    )
    if not samples:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            'class="axis">no per-example data</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def scatter_svg(rows: Sequence[Row], low: float, high: float, *, width=1080, height=340) -> str:
    """log10 abs err against the number of valid frames, coloured by precision."""
    max_frames = max([row.target.seq_len for row in rows] + [1])
    left, right, top, bottom = 52, 170, 26, 40
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(frames: float) -> float:
        return left + frames / max_frames * plot_w

    def py(err: float) -> float:
        return top + plot_h - (err - low) / (high - low) * plot_h

    parts = [
        f'<svg class="plot scatter" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="error vs valid frames">',
        f'<text x="{left}" y="16" class="title">Error against valid length '
        "(each point one example; red ring = failed)</text>",
        _axes(left, top, plot_w, plot_h),
    ]
    for exponent in range(math.ceil(low), math.floor(high) + 1):
        y = py(exponent)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{_tick_label(exponent)}</text>"
        )
    step = max(1, _nice_step(max_frames))
    for frames in range(0, max_frames + 1, step):
        parts.append(_xtick(px(frames), top + plot_h, str(frames)))
    precisions: list[str] = []
    for row in rows:
        precision = precision_label(row.target.quantization)
        if precision not in precisions:
            precisions.append(precision)
        for sample in _samples(row):
            frames = float(sample.get("valid_frames", 0))
            err = _log_err(sample["abs_err"])
            jitter = (hash((frames, err)) % 7 - 3) * 0.6
            stroke = (
                f' stroke="{FAIL_COLOUR}" stroke-width="2"'
                if not sample.get("passed", True)
                else ""
            )
            tip = (
                f"{row.target}: {sample.get('property', '')} abs err "
                f"{_err(sample['abs_err'])}, {sample.get('mask', '')}"
            )
            parts.append(
                f'<circle cx="{px(frames) + jitter:.1f}" cy="{py(err):.1f}" r="3" '
                f'fill="{_colour(precision)}" fill-opacity="0.55"{stroke}>'
                f"<title>{html.escape(tip)}</title></circle>"
            )
    for index, precision in enumerate(precisions):
        y = top + 10 + 20 * index
        parts.append(
            f'<circle cx="{width - right + 20}" cy="{y}" r="5" fill="{_colour(precision)}"/>'
            f'<text x="{width - right + 32}" y="{y + 4}" class="tick">'
            f"{html.escape(precision)}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" class="axis">'
        "valid frames in the mask</text>"
        f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" class="axis" '
        f'transform="rotate(-90 14 {top + plot_h / 2})">max abs err</text>'
        "</svg>"
    )
    return "".join(parts)


def _nice_step(span: int) -> int:
    for step in (1, 2, 4, 8, 16, 32, 64, 128):
        if span / step <= 10:
            return step
    return 256


def _axes(left: float, top: float, width: float, height: float) -> str:
    return (
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" '
        'class="axisline"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + height}" class="axisline"/>'
    )


def _xtick(x: float, y: float, label: str) -> str:
    return (
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 4}" class="axisline"/>'
        f'<text x="{x:.1f}" y="{y + 16}" text-anchor="middle" class="tick">'
        f"{html.escape(label)}</text>"
    )


# ---------------------------------------------------------------- HTML

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       margin: 24px 32px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #e3e3e3; padding-bottom: 4px; }
.meta { color: #555; margin: 2px 0; font-size: 13px; }
.meta code { font-size: 12px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff;
         font-weight: 600; margin-right: 8px; }
.pass { background: #2a9d6f; } .fail { background: #d62728; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ececec; text-align: left;
         white-space: nowrap; }
td.wrap { white-space: normal; max-width: 460px; color: #444; font-size: 12px; }
th { background: #f6f6f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.PASS { color: #1f7a55; font-weight: 600; } td.FAIL { color: #d62728; font-weight: 700; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plot { background: #fcfcfd; border: 1px solid #ececec; border-radius: 4px; }
.plot .title { font-size: 12px; font-weight: 600; fill: #333; }
.plot .tick { font-size: 10px; fill: #555; }
.plot .axis { font-size: 11px; fill: #444; }
.plot .axisline { stroke: #999; stroke-width: 1; }
.plot .grid { stroke: #eee; stroke-width: 1; }
.divergence, .failed { color: #8a1c1c; }
.notchecked { color: #8a5a00; font-weight: 600; }
.mask { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
"""


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], numeric=(), wrap=()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            classes = []
            if index in numeric:
                classes.append("num")
            if index in wrap:
                classes.append("wrap")
            if cell in ("PASS", "FAIL"):
                classes.append(cell)
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{html.escape(str(cell))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _worst_rows(report: Report) -> list[list[str]]:
    """The 20 largest recorded errors over every row, largest first (sorted as numbers)."""
    entries = [(row, worst) for row in report.all_rows() for worst in row.worst]
    entries.sort(key=lambda entry: -float(entry[1].get("abs_err") or 0.0))
    return [
        [
            str(row.target.seq_len),
            precision_label(row.target.quantization),
            row.target.runtime,
            str(worst.get("property", "")),
            _err(worst.get("abs_err")),
            str(worst.get("mask", "")),
            _first_line(worst.get("message"), 150),
        ]
        for row, worst in entries[:20]
    ]


def _first_line(text: Any, limit: int) -> str:
    line = str(text or "").strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _paragraphs(lines: Sequence[str], css: str) -> list[str]:
    return [f'<p class="meta {css}">{html.escape(line)}</p>' for line in lines]


def render_html(report: Report) -> str:
    """One self-contained HTML page: verdict, summary, failed and unchecked checks, plots,
    worst cases, tolerances, versions."""
    rows = _sorted_rows(report)
    low, high = _log_range(rows)
    passed = report.passed
    badge = f'<span class="badge {"pass" if passed else "fail"}">{_verdict(passed)}</span>'
    body = [
        "<h1>SignBart TFLite parity</h1>",
        f'<p class="meta">{badge}{html.escape(_headline(report))}</p>',
        *_paragraphs(
            ["Why FAIL: " + "; ".join(report.verdict_reasons())] if not passed else [], "failed"
        ),
        f'<p class="meta">checkpoint <code>{html.escape(_short_sha(report.checkpoint))}</code></p>',
        f'<p class="meta">config <code>{html.escape(_short_sha(report.config))}</code></p>',
        "<h2>Summary</h2>",
        _table(SUMMARY_HEADER, _summary_rows(report), numeric=(0, 3, 4, 5, 7)),
        '<p class="meta">float64 oracle: max |fp32 − float64 model| for PyTorch and for TFLite '
        "(the error floor of fp32 itself); quantized files have none.</p>",
    ]
    failures = failure_lines(report)
    if failures:
        body += ["<h2>Failed checks</h2>", *_paragraphs(failures, "failed")]
    divergences = [f"{row.target}: {row.divergence}" for row in rows if row.divergence]
    body += _paragraphs(divergences, "divergence")
    skipped = not_checked_lines(report)
    if skipped:
        body += ["<h2>Not checked</h2>", *_paragraphs(skipped, "notchecked")]
    body += [
        "<h2>Error distribution per seq_len and precision</h2>",
        '<div class="plots">',
        *(histogram_svg(row, low, high) for row in rows),
        "</div>",
        "<h2>Error against valid length</h2>",
        '<div class="plots">',
        scatter_svg(rows, low, high),
        "</div>",
        "<h2>Worst cases</h2>",
    ]
    worst = _worst_rows(report)
    body.append(
        _table(
            ["seq_len", "precision", "runtime", "property", "abs err", "mask", "message"],
            worst,
            numeric=(0, 4),
            wrap=(6,),
        )
        if worst
        else '<p class="meta">no worst cases recorded.</p>'
    )
    if report.tolerances:
        body += [
            "<h2>Tolerances</h2>",
            _table(
                ["precision", "bound"],
                [[precision_label(k), v] for k, v in report.tolerances.items()],
            ),
        ]
    if report.timing:
        body += [
            "<h2>Timing</h2>",
            *_paragraphs([str(report.timing.get("note", ""))], ""),
        ]
    versions = _versions(report)
    if versions:
        body += ["<h2>Versions</h2>", _table(["package", "version"], versions)]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>SignBart TFLite parity</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


# ---------------------------------------------------------------- command


def merge_command(paths: Sequence[Path], output: Path) -> int:
    """``signbart-parity report merge``: exit 0 when the merged run passed, 1 when it failed.

    Every input is read and checked before anything is written, so a bad shard leaves
    ``output`` untouched.
    """
    reports = [load_report(path) for path in paths]
    merged = merge_reports(reports, sources=[str(path) for path in paths])
    written = write_report(merged, output)
    print(
        f"merged {len(reports)} reports ({len(merged.all_rows())} results): "
        f"{_headline(merged)}; wrote {', '.join(str(p) for p in written.values())}"
    )
    return 0 if merged.passed else 1

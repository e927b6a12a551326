"""Human-readable parity reports: parity.md (summary) and parity.html (one file, inline SVG).

Both are rendered from the machine-readable ``parity.json`` dict (schema 1), which the
pytest plugin writes with ``--parity-report DIR`` and ``signbart-parity verify --report DIR``.
Shards of one run (pytest-xdist workers, CI matrix jobs) merge with ``merge_reports``.

The HTML is self-contained: no scripts, no stylesheets or fonts from elsewhere, no URLs.
Plots are plain SVG drawn here, so no plotting dependency is needed.
"""

from __future__ import annotations

import copy
import html
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from signbart_parity.convert import QUANTIZATIONS, precision_label
from signbart_parity.errors import ReportError
from signbart_parity.fileio import write_json_atomic, write_text_atomic

SCHEMA = 1
REPORT_FILES = ("parity.json", "parity.md", "parity.html")
MAX_SAMPLES = 500  # per result, as the plugin caps them
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


# ---------------------------------------------------------------- loading and merging


def load_report(path: str | Path) -> dict:
    """Read a parity.json file; raise ReportError (one sentence) when it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: report file not found; pass an existing parity.json.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read the report ({exc}); pass a parity.json.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path}: not valid JSON (line {exc.lineno}); pass the parity.json a run wrote."
        ) from None
    check_report(data, source=str(path))
    return data


def check_report(data: Any, *, source: str = "<report>") -> None:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ReportError(
            f"{source}: not a parity report (no 'results' list); pass the parity.json a run wrote."
        )
    if data.get("schema") != SCHEMA:
        raise ReportError(
            f"{source}: report schema {data.get('schema')!r} is not {SCHEMA}; "
            "re-run the parity tests with this version of signbart-parity."
        )
    for result in data["results"]:
        if not isinstance(result, dict) or not {"seq_len", "quantization", "runtime"} <= set(
            result
        ):
            raise ReportError(
                f"{source}: a result lacks seq_len/quantization/runtime; the file is damaged, "
                "re-run the parity tests."
            )


def result_key(result: dict) -> tuple:
    """Order of results in a report: seq_len, quantization, runtime (as the plugin sorts)."""
    return (int(result["seq_len"]), str(result["quantization"]), str(result["runtime"]))


def display_key(result: dict) -> tuple:
    """Order of rows in tables: as ``result_key`` but fp32 first, then QUANTIZATIONS order."""
    quantization = str(result["quantization"])
    known = quantization in QUANTIZATIONS
    rank = QUANTIZATIONS.index(quantization) if known else len(QUANTIZATIONS)
    return (int(result["seq_len"]), rank, quantization, str(result["runtime"]))


def merge_reports(reports: Sequence[dict], *, sources: Sequence[str] | None = None) -> dict:
    """Combine shard reports of one run into the report a single run would have written.

    Shards are pytest-xdist workers (which share targets: their rows for one (seq_len,
    quantization, runtime) are combined) or CI jobs (disjoint targets: rows concatenated).
    Results are sorted by (seq_len, quantization, runtime); ``passed`` is true only when
    every shard passed; ``conversions`` and ``cache_hits`` are summed; tolerances united.
    ``duration_s`` is the MAX over shards: the wall-clock time of a run whose shards ran in
    parallel (each shard's own time is in ``shard_durations_s``).

    Combined rows: counts summed, maxima taken, top-1 agreement from the summed counts
    (weighted by examples for rows that lack them),
    samples concatenated (capped at ``MAX_SAMPLES``), the 5 worst kept.

    Raises:
        ReportError: no reports, or shards of different checkpoints or configs.
    """
    names = list(sources) if sources is not None else [f"shard {i}" for i in range(len(reports))]
    if not reports:
        raise ReportError("no reports to merge; pass at least one parity.json.")
    for report, name in zip(reports, names, strict=True):
        check_report(report, source=name)
    first = reports[0]
    for report, name in zip(reports[1:], names[1:], strict=True):
        for part in ("checkpoint", "config"):
            if _sha(report, part) != _sha(first, part):
                raise ReportError(
                    f"{name}: its {part} ({_sha(report, part)}) differs from {names[0]}'s "
                    f"({_sha(first, part)}); merge only shards of one run."
                )
    rows: dict[tuple, dict] = {}
    for report in reports:
        for result in report["results"]:
            key = result_key(result)
            rows[key] = _combine_rows(rows[key], result) if key in rows else copy.deepcopy(result)
    tolerances: dict = {}
    torch_latency: dict = {}
    for report in reports:
        tolerances.update(report.get("tolerances") or {})
        torch_latency.update(report.get("torch_latency_ms") or {})
    durations = [float(report.get("duration_s") or 0.0) for report in reports]
    merged = {
        "schema": SCHEMA,
        "passed": all(bool(report.get("passed")) for report in reports),
        "checkpoint": first.get("checkpoint"),
        "config": first.get("config"),
        "environment": first.get("environment"),
        "tolerances": tolerances,
        "results": [rows[key] for key in sorted(rows)],
        "torch_latency_ms": torch_latency,
        "conversions": sum(int(report.get("conversions") or 0) for report in reports),
        "cache_hits": sum(int(report.get("cache_hits") or 0) for report in reports),
        "duration_s": max(durations),
        "shard_durations_s": durations,
    }
    environments = {json.dumps(r.get("environment"), sort_keys=True) for r in reports}
    if len(environments) > 1:
        merged["environment_mismatch"] = [r.get("environment") for r in reports]
    return merged


def _combine_rows(a: dict, b: dict) -> dict:
    """One row from two shards' rows of the same (seq_len, quantization, runtime)."""
    examples_a, examples_b = int(a.get("examples") or 0), int(b.get("examples") or 0)
    combined = dict(a)
    combined["examples"] = examples_a + examples_b
    combined["passed"] = bool(a.get("passed")) and bool(b.get("passed"))
    for key in ("max_abs_err", "max_rel_err", "oracle_max_abs_err", "tflite_oracle_max_abs_err"):
        values = [v for v in (a.get(key), b.get(key)) if v is not None]
        combined[key] = max(values) if values else None
    combined["size_bytes"] = a.get("size_bytes") or b.get("size_bytes")
    if "top1_compared" in a and "top1_compared" in b:
        # Exact: rows carry the counts behind their agreement rate.
        combined["top1_agreed"] = a["top1_agreed"] + b["top1_agreed"]
        combined["top1_compared"] = a["top1_compared"] + b["top1_compared"]
        compared = combined["top1_compared"]
        combined["top1_agreement"] = combined["top1_agreed"] / compared if compared else None
    else:
        agreements = [
            (v, n)
            for v, n in (
                (a.get("top1_agreement"), examples_a),
                (b.get("top1_agreement"), examples_b),
            )
            if v is not None
        ]
        weight = sum(n for _, n in agreements)
        combined["top1_agreement"] = (
            sum(v * n for v, n in agreements) / weight
            if weight
            else (agreements[0][0] if agreements else None)
        )
    checks = {}
    for prop in {**(a.get("checks") or {}), **(b.get("checks") or {})}:
        tallies = [row.get("checks", {}).get(prop, {}) for row in (a, b)]
        checks[prop] = {
            key: sum(int(t.get(key, 0)) for t in tallies) for key in ("examples", "failed")
        }
    if checks:
        combined["checks"] = checks
    combined["samples"] = ((a.get("samples") or []) + (b.get("samples") or []))[:MAX_SAMPLES]
    worst = (a.get("worst") or []) + (b.get("worst") or [])
    combined["worst"] = sorted(worst, key=lambda w: -float(w.get("abs_err") or 0.0))[:5]
    return combined


def _sha(report: dict, part: str) -> str | None:
    value = report.get(part)
    return value.get("sha256") if isinstance(value, dict) else None


def write_report(data: dict, directory: str | Path) -> dict[str, Path]:
    """Write parity.json, parity.md and parity.html into ``directory``, each atomically.

    Also appends the Markdown summary to ``$GITHUB_STEP_SUMMARY`` when it is set.
    """
    directory = Path(directory)
    markdown = render_markdown(data)
    paths = {name: directory / name for name in REPORT_FILES}
    write_json_atomic(paths["parity.json"], data)
    write_text_atomic(paths["parity.md"], markdown)
    write_text_atomic(paths["parity.html"], render_html(data))
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
    if value is None:
        return "—"
    return f"{int(value) / 1e6:.2f} MB"


def _agreement(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1%}"


def _oracle(result: dict) -> str:
    torch_err, tflite_err = (
        result.get("oracle_max_abs_err"),
        result.get("tflite_oracle_max_abs_err"),
    )
    if torch_err is None and tflite_err is None:
        return "—"
    return f"{_err(torch_err)} / {_err(tflite_err)}"


def _latency(result: dict, data: dict) -> str:
    """Median TFLite latency of the row's file and PyTorch eager's at the same seq_len."""
    tflite_ms = result.get("latency_ms")
    torch_ms = (data.get("torch_latency_ms") or {}).get(str(result["seq_len"]))
    if tflite_ms is None:
        return "—"
    torch_part = f" / {float(torch_ms):.2f}" if torch_ms is not None else ""
    return f"{float(tflite_ms):.2f}{torch_part} ms"


def _verdict(passed: Any) -> str:
    return "PASS" if passed else "FAIL"


def _summary_rows(data: dict) -> list[list[str]]:
    rows = []
    for result in sorted(data.get("results", []), key=display_key):
        rows.append(
            [
                str(result["seq_len"]),
                precision_label(result["quantization"]),
                str(result["runtime"]),
                str(result.get("examples", "—")),
                _err(result.get("max_abs_err")),
                _err(result.get("max_rel_err")),
                _oracle(result),
                _agreement(result.get("top1_agreement")),
                _verdict(result.get("passed")),
                _size(result.get("size_bytes")),
                _latency(result, data),
            ]
        )
    return rows


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


def _headline(data: dict) -> str:
    results = data.get("results", [])
    failed = sum(not r.get("passed") for r in results)
    verdict = "PASS" if data.get("passed") else "FAIL"
    counts = f"{len(results) - failed}/{len(results)} configurations pass"
    duration = data.get("duration_s")
    timing = f", {float(duration):.0f} s" if duration is not None else ""
    cache = (
        f", {data.get('conversions', 0)} conversions, {data.get('cache_hits', 0)} cache hits"
        if "conversions" in data
        else ""
    )
    return f"{verdict}: {counts}{cache}{timing}"


def _short_sha(part: Any) -> str:
    if not isinstance(part, dict):
        return "—"
    sha = part.get("sha256") or ""
    return f"{part.get('path', '?')} (sha256 {sha[:12]})"


def _versions(data: dict) -> list[tuple[str, str]]:
    env = data.get("environment") or {}
    return [(str(k), str(v)) for k, v in env.items()]


# ---------------------------------------------------------------- Markdown


def render_markdown(data: dict) -> str:
    """A compact summary readable at a glance (and in a GitHub job summary)."""
    lines = [f"## SignBart TFLite parity — {_headline(data)}", ""]
    lines.append(f"checkpoint: `{_short_sha(data.get('checkpoint'))}`  ")
    lines.append(f"config: `{_short_sha(data.get('config'))}`")
    lines.append("")
    lines.append("| " + " | ".join(SUMMARY_HEADER) + " |")
    alignment = ("---:" if i in (0, 3) else "---" for i in range(len(SUMMARY_HEADER)))
    lines.append("|" + "|".join(alignment) + "|")
    for row in _summary_rows(data):
        row = row.copy()
        row[8] = f"**{row[8]}**" if row[8] == "FAIL" else row[8]
        lines.append("| " + " | ".join(row) + " |")
    failing = [r for r in data.get("results", []) if not r.get("passed")]
    for result in failing:
        worst = (result.get("worst") or [{}])[0]
        if worst:
            lines.append("")
            lines.append(
                f"- FAIL seq_len {result['seq_len']} {precision_label(result['quantization'])} "
                f"{result['runtime']}: worst {worst.get('property', '?')} abs err "
                f"{_err(worst.get('abs_err'))}, mask {worst.get('mask', '?')}"
            )
        if result.get("divergence"):
            lines.append(f"  {result['divergence']}")
    versions = ", ".join(f"{name} {version}" for name, version in _versions(data))
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


def _samples(result: dict) -> list[dict]:
    return [s for s in result.get("samples") or [] if isinstance(s, dict) and "abs_err" in s]


def _log_range(data: dict) -> tuple[float, float]:
    values = [_log_err(s["abs_err"]) for r in data.get("results", []) for s in _samples(r)]
    if not values:
        return LOG10_FLOOR, 0.0
    low = math.floor(min(values)) - 0.0
    high = math.ceil(max(values) + 1e-9)
    if high - low < 2:
        low, high = high - 2, high
    return low, high


def _tick_label(exponent: float) -> str:
    if exponent <= LOG10_FLOOR:
        return f"≤1e{int(exponent)}"
    return f"1e{int(exponent)}"


def histogram_svg(result: dict, low: float, high: float, *, width=360, height=190) -> str:
    """Histogram of log10 |tflite - torch| per example, passed stacked under failed."""
    samples = _samples(result)
    precision = precision_label(result["quantization"])
    bins = max(1, round((high - low) / HISTOGRAM_BIN))
    passed_counts, failed_counts = [0] * bins, [0] * bins
    for sample in samples:
        index = min(bins - 1, max(0, int((_log_err(sample["abs_err"]) - low) / HISTOGRAM_BIN)))
        (passed_counts if sample.get("passed", True) else failed_counts)[index] += 1
    left, right, top, bottom = 36, 10, 26, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([p + f for p, f in zip(passed_counts, failed_counts, strict=True)] + [1])
    bar_w = plot_w / bins
    title = f"seq_len {result['seq_len']} · {precision} · {result['runtime']} · n={len(samples)}"
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
        parts.append(_xtick(x, top + plot_h, label, every=1))
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


def scatter_svg(data: dict, low: float, high: float, *, width=1080, height=340) -> str:
    """log10 abs err against the number of valid frames, coloured by precision."""
    results = sorted(data.get("results", []), key=display_key)
    max_frames = max([int(r["seq_len"]) for r in results] + [1])
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
        parts.append(_xtick(px(frames), top + plot_h, str(frames), every=1))
    precisions: list[str] = []
    for result in results:
        precision = precision_label(result["quantization"])
        if precision not in precisions:
            precisions.append(precision)
        for sample in _samples(result):
            frames = float(sample.get("valid_frames", 0))
            err = _log_err(sample["abs_err"])
            jitter = (hash((frames, err)) % 7 - 3) * 0.6
            stroke = (
                f' stroke="{FAIL_COLOUR}" stroke-width="2"'
                if not sample.get("passed", True)
                else ""
            )
            tip = (
                f"seq_len {result['seq_len']} {precision} {result['runtime']}: "
                f"{sample.get('property', '')} abs err {_err(sample['abs_err'])}, "
                f"{sample.get('mask', '')}"
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


def _xtick(x: float, y: float, label: str, *, every: int) -> str:
    del every
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
.divergence { color: #8a1c1c; }
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


def _worst_rows(data: dict) -> list[list[str]]:
    rows = []
    for result in sorted(data.get("results", []), key=display_key):
        for worst in (result.get("worst") or [])[:5]:
            rows.append(
                [
                    str(result["seq_len"]),
                    precision_label(result["quantization"]),
                    str(result["runtime"]),
                    str(worst.get("property", "")),
                    _err(worst.get("abs_err")),
                    str(worst.get("mask", "")),
                    _first_line(worst.get("message"), 150),
                ]
            )
    rows.sort(key=lambda row: -_as_float(row[4]))
    return rows[:20]


def _first_line(text: Any, limit: int) -> str:
    line = str(text or "").strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _as_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return -1.0


def _divergence_notes(results: list[dict]) -> list[str]:
    """One line per failed result that carries a divergence localisation (from verify)."""
    notes = []
    for result in results:
        if result.get("divergence"):
            where = (
                f"seq_len {result['seq_len']} {precision_label(result['quantization'])} "
                f"{result['runtime']}"
            )
            notes.append(
                f'<p class="meta divergence"><strong>{html.escape(where)}:</strong> '
                f"{html.escape(str(result['divergence']))}</p>"
            )
    return notes


def render_html(data: dict) -> str:
    """One self-contained HTML page: summary, plots, worst cases, tolerances, versions."""
    low, high = _log_range(data)
    results = sorted(data.get("results", []), key=display_key)
    passed = bool(data.get("passed"))
    badge = f'<span class="badge {"pass" if passed else "fail"}">{_verdict(passed)}</span>'
    numeric = (0, 3, 4, 5, 7)
    body = [
        "<h1>SignBart TFLite parity</h1>",
        f'<p class="meta">{badge}{html.escape(_headline(data))}</p>',
        f'<p class="meta">checkpoint <code>{html.escape(_short_sha(data.get("checkpoint")))}'
        "</code></p>",
        f'<p class="meta">config <code>{html.escape(_short_sha(data.get("config")))}</code></p>',
        "<h2>Summary</h2>",
        _table(SUMMARY_HEADER, _summary_rows(data), numeric=numeric),
        '<p class="meta">float64 oracle: max |fp32 − float64 model| for PyTorch and for TFLite '
        "(the error floor of fp32 itself); quantized files have none.</p>",
        *_divergence_notes(results),
        "<h2>Error distribution per seq_len and precision</h2>",
        '<div class="plots">',
        *(histogram_svg(result, low, high) for result in results),
        "</div>",
        "<h2>Error against valid length</h2>",
        '<div class="plots">',
        scatter_svg(data, low, high),
        "</div>",
        "<h2>Worst cases</h2>",
    ]
    worst = _worst_rows(data)
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
    tolerances = data.get("tolerances") or {}
    if tolerances:
        body += [
            "<h2>Tolerances</h2>",
            _table(
                ["precision", "bound"], [[precision_label(k), v] for k, v in tolerances.items()]
            ),
        ]
    versions = _versions(data)
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
        f"merged {len(reports)} reports ({len(merged['results'])} results): "
        f"{_headline(merged)}; wrote {', '.join(str(p) for p in written.values())}"
    )
    return 0 if merged["passed"] else 1


def environment() -> dict[str, str]:
    """Versions a report records, read from package metadata (nothing heavy is imported)."""
    import platform

    from signbart_parity.versions import installed_version as version

    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": version("torch"),
        "litert-torch": version("litert-torch"),
        "ai-edge-litert": version("ai-edge-litert"),
        "ai-edge-quantizer": version("ai-edge-quantizer"),
        "tensorflow": version("tensorflow", "tensorflow-cpu"),
        "numpy": version("numpy"),
    }

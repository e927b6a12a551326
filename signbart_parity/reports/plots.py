"""The report's charts as inline SVG: per-target error histograms and error against valid
length. Drawn by hand so parity.html stays one small self-contained file (no plotting
dependency, no scripts); every text placed in the SVG is escaped here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from signbart_parity.reports.columns import error
from signbart_parity.reports.model import Row
from signbart_parity.targets import precision_label

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


def _colour(precision: str) -> str:
    return PRECISION_COLOURS.get(precision, OTHER_COLOUR)


def _log10_error(value: Any) -> float:
    value = float(value) if value is not None else 0.0
    if not math.isfinite(value):
        return 3.0
    return max(LOG10_FLOOR, math.log10(value)) if value > 0 else LOG10_FLOOR


def _samples(row: Row) -> list[dict]:
    return [s for s in row.samples if isinstance(s, dict) and "abs_err" in s]


def log_range(rows: Sequence[Row]) -> tuple[float, float]:
    """The log10 error range every plot of one report shares."""
    values = [_log10_error(s["abs_err"]) for row in rows for s in _samples(row)]
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
        index = min(bins - 1, max(0, int((_log10_error(sample["abs_err"]) - low) / HISTOGRAM_BIN)))
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
            err = _log10_error(sample["abs_err"])
            jitter = (hash((frames, err)) % 7 - 3) * 0.6
            stroke = (
                f' stroke="{FAIL_COLOUR}" stroke-width="2"'
                if not sample.get("passed", True)
                else ""
            )
            tip = (
                f"{row.target}: {sample.get('property', '')} abs err "
                f"{error(sample['abs_err'])}, {sample.get('mask', '')}"
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

"""The report's charts as inline SVG: per-target histograms of every example's headroom (its
max |difference| as a multiple of its bound, with the bound drawn at 1x) and headroom against
valid length. Drawn by hand so parity.html stays one small self-contained file (no plotting
dependency, no scripts); every text placed in the SVG is escaped here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from signbart_parity.reports.columns import error, ratio
from signbart_parity.reports.model import Row

# Bound ratios below this are drawn in the lowest bin (an exact 0 has no log10); the bound
# itself is 1x, log10 0.
LOG10_FLOOR = -4.0
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
    return [s for s in row.samples if isinstance(s, dict) and s.get("bound_ratio") is not None]


def counted(row: Row) -> str:
    """What a row's plot counts: every example of the row, or how many of them it holds."""
    shown = len(_samples(row))
    return f"n={shown}" if shown == row.examples else f"n={shown} of {row.examples} examples"


def log_range(rows: Sequence[Row]) -> tuple[float, float]:
    """The log10 bound-ratio range every plot of one report shares; it always holds the
    bound (1x) with a decade to spare above it."""
    values = [_log10_error(s["bound_ratio"]) for row in rows for s in _samples(row)]
    if not values:
        return -3.0, 1.0
    low = min(math.floor(min(values)), -1)
    high = max(math.ceil(max(values) + 1e-9), 1)
    return low, high


def _tick_label(exponent: float) -> str:
    """A multiple of the bound: 1x is the bound itself."""
    exponent = int(exponent)
    text = {-1: "0.1x", 0: "1x", 1: "10x", 2: "100x"}.get(exponent, f"1e{exponent}x")
    return f"≤{text}" if exponent <= LOG10_FLOOR else text


def histogram_svg(row: Row, low: float, high: float, *, width=360, height=190) -> str:
    """Histogram of log10 (max |difference| / bound) per example, passed stacked under
    failed, with the bound drawn at 1x; it counts every example of the row."""
    samples = _samples(row)
    precision = row.target.precision
    bins = max(1, round((high - low) / HISTOGRAM_BIN))
    passed_counts, failed_counts = [0] * bins, [0] * bins
    for sample in samples:
        value = _log10_error(sample["bound_ratio"])
        index = min(bins - 1, max(0, int((value - low) / HISTOGRAM_BIN)))
        (passed_counts if sample.get("passed", True) else failed_counts)[index] += 1
    left, right, top, bottom = 36, 10, 26, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([p + f for p, f in zip(passed_counts, failed_counts, strict=True)] + [1])
    bar_w = plot_w / bins
    title = f"{row.target} · {counted(row)}"
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
    bound_x = left + (0 - low) / (high - low) * plot_w
    parts.append(
        f'<line x1="{bound_x:.1f}" x2="{bound_x:.1f}" y1="{top}" y2="{top + plot_h}" '
        'class="bound"/>'
        f'<text x="{bound_x + 3:.1f}" y="{top + 10}" class="tick">bound</text>'
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="tick">{peak}</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="tick">0</text>'
        f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" class="axis">'
        "max |difference| / bound, per example</text>"
    )
    if not samples:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            'class="axis">no per-example data</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def scatter_svg(rows: Sequence[Row], low: float, high: float, *, width=1080, height=340) -> str:
    """log10 bound ratio against the number of valid frames, coloured by precision, with the
    bound drawn at 1x."""
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
        f'<text x="{left}" y="16" class="title">Headroom against valid length '
        "(each point one example; red ring = failed; above the line = over the bound)</text>",
        _axes(left, top, plot_w, plot_h),
        f'<line x1="{left}" x2="{left + plot_w}" y1="{py(0):.1f}" y2="{py(0):.1f}" class="bound"/>',
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
        precision = row.target.precision
        if precision not in precisions:
            precisions.append(precision)
        for sample in _samples(row):
            frames = float(sample.get("valid_frames", 0))
            err = _log10_error(sample["bound_ratio"])
            jitter = (hash((frames, err)) % 7 - 3) * 0.6
            stroke = (
                f' stroke="{FAIL_COLOUR}" stroke-width="2"'
                if not sample.get("passed", True)
                else ""
            )
            tip = (
                f"{row.target}: {sample.get('property', '')} {ratio(sample['bound_ratio'])} "
                f"bound, abs err {error(sample.get('abs_err'))}, {sample.get('mask', '')}"
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
        f'transform="rotate(-90 14 {top + plot_h / 2})">max |diff| / bound</text>'
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

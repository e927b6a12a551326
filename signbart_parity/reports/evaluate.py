"""``evaluate`` reports: ``evaluate.json`` and a self-contained ``evaluate.html``.

The HTML needs no network and no plotting library: confusion matrices are inline SVG.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from signbart_parity.fileio import write_json_atomic, write_text_atomic

CELL = 34


def write_reports(directory: str | Path, summary: dict) -> list[Path]:
    directory = Path(directory)
    json_path, html_path = directory / "evaluate.json", directory / "evaluate.html"
    write_json_atomic(json_path, summary)
    write_text_atomic(html_path, render_html(summary))
    return [json_path, html_path]


def confusion_svg(matrix: list[list[int]], classes: list[str], title: str) -> str:
    """A confusion matrix as inline SVG: rows true class, columns predicted, shaded by row share."""
    size = len(classes)
    longest = max((len(name) for name in classes), default=1)
    top = 30 + int(5 * longest)  # room for the slanted column labels
    left = 20 + int(6.5 * longest)  # room for the row labels
    width = left + CELL * size + 5 * longest + 10
    height = top + CELL * size + 26
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="{left}" y="{height - 6}">predicted class (rows: true class)</text>',
    ]
    for index, name in enumerate(classes):
        x = left + CELL * index + CELL / 2
        y = top + CELL * index + CELL / 2 + 4
        parts.append(
            f'<text x="{x}" y="{top - 6}" transform="rotate(-45 {x} {top - 6})">'
            f"{escape(name)}</text>"
        )
        parts.append(f'<text x="{left - 6}" y="{y}" text-anchor="end">{escape(name)}</text>')
    for row, counts in enumerate(matrix):
        total = sum(counts) or 1
        for column, count in enumerate(counts):
            share = count / total
            x, y = left + CELL * column, top + CELL * row
            fill = f"rgb({int(255 - 200 * share)},{int(255 - 140 * share)},255)"
            colour = "white" if share > 0.6 else "black"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{fill}" '
                'stroke="#ccc"/>'
            )
            if count:
                parts.append(
                    f'<text x="{x + CELL / 2}" y="{y + CELL / 2 + 4}" text-anchor="middle" '
                    f'fill="{colour}">{count}</text>'
                )
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(summary: dict) -> str:
    rows = "\n".join(
        f"<tr><td>{escape(precision)}</td><td>{result['accuracy']:.1%}</td>"
        f"<td>{result['agreement_with_pytorch']:.1%}</td>"
        f"<td>{result['max_abs_logit_diff']:.3g}</td>"
        f"<td>{_size(result.get('size_bytes'))}</td>"
        f"<td>{_verdict(result)}</td></tr>"
        for precision, result in summary["results"].items()
    )
    skipped = "".join(
        f"<li><code>{escape(s['file'])}</code>: {escape(s['reason'])}</li>"
        for s in summary["skipped"]
    )
    calibration = summary.get("calibration")
    calibration_note = (
        f"<p>static-int8 calibrated on {calibration['count']} {escape(calibration['source'])}.</p>"
        if calibration
        else ""
    )
    plots = "\n".join(
        f'<div class="plot">{confusion_svg(result["confusion_matrix"], summary["classes"], name)}'
        "</div>"
        for name, result in summary["results"].items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SignBart evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
.plot{{display:inline-block;margin:1em}}</style></head><body>
<h1>SignBart evaluation</h1>
<p>{summary["samples"]} samples from <code>{escape(summary["dataset"])}</code> at seq_len
{summary["seq_len"]}; checkpoint <code>{escape(summary["checkpoint"])}</code>.</p>
{calibration_note}
<table><tr><th>precision</th><th>accuracy</th><th>top-1 agreement with PyTorch</th>
<th>max |logit diff|</th><th>file size</th><th>within tolerance</th></tr>
{rows}
</table>
<h2>Skipped samples ({len(summary["skipped"])})</h2><ul>{skipped or "<li>none</li>"}</ul>
<h2>Confusion matrices (rows: true class)</h2>
{plots}
</body></html>
"""


def _size(size_bytes: int | None) -> str:
    return "" if size_bytes is None else f"{size_bytes / 1e6:.2f} MB"


def _verdict(result: dict) -> str:
    if "within_tolerance" not in result:
        return ""
    verdict = "yes" if result["within_tolerance"] else "NO"
    return f'<span title="{escape(result["tolerance"])}">{verdict}</span>'

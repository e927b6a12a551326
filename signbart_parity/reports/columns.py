"""The report's tables, declared once: each column's header, how its cell is formatted, and
whether it is numeric. Rows are sorted on their values before anything is formatted; the
Markdown and HTML renderers format the same cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from signbart_parity.reports.model import Report, Row, first_line
from signbart_parity.reports.row import closeness
from signbart_parity.targets import QUANTIZATIONS, Target

WORST_SHOWN = 20
MESSAGE_WIDTH = 150


def display_key(target: Target) -> tuple:
    """Order of rows in tables: seq_len, then fp32 first and QUANTIZATIONS order, runtime."""
    known = target.quantization in QUANTIZATIONS
    rank = QUANTIZATIONS.index(target.quantization) if known else len(QUANTIZATIONS)
    return (target.seq_len, rank, target.quantization, target.runtime)


def sorted_rows(report: Report) -> list[Row]:
    return sorted(report.all_rows(), key=lambda row: display_key(row.target))


# ---------------------------------------------------------------- cell formats


def error(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.2e}"


def size(value: Any) -> str:
    return "—" if value is None else f"{int(value) / 1e6:.2f} MB"


def share(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1%}"


def ratio(value: Any) -> str:
    """A multiple of the bound: ``0.41x``; below 1 is within it."""
    if value is None:
        return "—"
    value = float(value)
    if not math.isfinite(value):
        return f"{value}x"
    return f"{value:.0f}x" if value >= 10 else f"{value:.2g}x"


def headroom(row: Row) -> str:
    """The row's worst example against its bound (``0.41x bound``)."""
    return "—" if row.bound_ratio is None or not row.examples else f"{ratio(row.bound_ratio)} bound"


def logit_scale(row: Row) -> str:
    """The logit scale an int8 row's bound is a fraction of ("—" where it is not)."""
    return "—" if row.logit_scale is None else f"{float(row.logit_scale):.3g}"


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _oracle(row: Row, report: Report) -> str:
    if row.oracle_max_abs_err is None and row.tflite_oracle_max_abs_err is None:
        return "—"
    return f"{error(row.oracle_max_abs_err)} / {error(row.tflite_oracle_max_abs_err)}"


def _latency(row: Row, report: Report) -> str:
    """Median TFLite latency of the row's file and PyTorch eager's at the same seq_len."""
    if row.latency_ms is None:
        return "—"
    torch_ms = report.torch_latency_ms.get(str(row.target.seq_len))
    torch_part = f" / {float(torch_ms):.2f}" if torch_ms is not None else ""
    return f"{float(row.latency_ms):.2f}{torch_part} ms"


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Any, Report], str]  # (the row's item, the report) -> the cell's text
    numeric: bool = False
    wrap: bool = False


SUMMARY = (
    Column("seq_len", lambda row, _: str(row.target.seq_len), numeric=True),
    Column("precision", lambda row, _: row.target.precision),
    Column("runtime", lambda row, _: row.target.runtime),
    Column("examples", lambda row, _: str(row.examples), numeric=True),
    Column(
        "max abs err", lambda row, _: error(row.max_abs_err if row.examples else None), numeric=True
    ),  # fmt: skip
    # No relative error: the rule judges the error against its bound (worst / bound) and the
    # logit scale; a passing int8 row's relative error (8.01e+00 on a near-zero logit) alarms
    # for nothing. parity.json keeps it (max_rel_err).
    Column("worst / bound", lambda row, _: headroom(row), numeric=True),
    Column("logit scale", lambda row, _: logit_scale(row), numeric=True),
    Column("top-1", lambda row, _: share(row.top1_agreement), numeric=True),
    Column("result", lambda row, report: verdict(report.row_passed(row))),
    Column("float64 oracle (torch / tflite)", _oracle),
    Column("size", lambda row, _: size(row.size_bytes)),
    Column("latency (tflite / torch)", _latency),
)

WORST = (
    Column("seq_len", lambda entry, _: str(entry[0].target.seq_len), numeric=True),
    Column("precision", lambda entry, _: entry[0].target.precision),
    Column("runtime", lambda entry, _: entry[0].target.runtime),
    Column("check", lambda entry, _: str(entry[1].get("property", ""))),
    Column("x bound", lambda entry, _: ratio(entry[1].get("bound_ratio")), numeric=True),
    Column("abs err", lambda entry, _: error(entry[1].get("abs_err")), numeric=True),
    Column("result", lambda entry, _: verdict(bool(entry[1].get("passed", True)))),
    Column("mask", lambda entry, _: str(entry[1].get("mask", ""))),
    Column(
        "message", lambda entry, _: first_line(entry[1].get("message"), MESSAGE_WIDTH), wrap=True
    ),
)


def cells(columns: tuple[Column, ...], items, report: Report) -> list[list[str]]:
    return [[column.cell(item, report) for column in columns] for item in items]


def summary_cells(report: Report) -> list[list[str]]:
    return cells(SUMMARY, sorted_rows(report), report)


def worst_entries(report: Report) -> list[tuple[Row, dict]]:
    """The examples closest to (or over) their bound over every row: failing ones first,
    then by bound ratio, largest first (sorted as numbers)."""
    entries = [(row, worst) for row in report.all_rows() for worst in row.worst]
    entries.sort(key=lambda entry: closeness(entry[1]))
    return entries[:WORST_SHOWN]

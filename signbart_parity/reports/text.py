"""The sentences every view of a report shares (Markdown, HTML, the terminal summary): the
headline, what failed, what was not checked, and which files were checked."""

from __future__ import annotations

import re
from typing import Any

from signbart_parity.checks.domain import OUTSIDE
from signbart_parity.reports.columns import display_key, error, headroom, sorted_rows, verdict
from signbart_parity.reports.model import Outcome, Report
from signbart_parity.runtime.gpu import describe_gpu_build
from signbart_parity.runtime_specs import gpu_not_checked
from signbart_parity.targets import precision_label

NOT_CHECKED_LEAD = re.compile(r"^[^:]{0,60}: not checked:\s*")


def headline_with_run(report: Report) -> str:
    cache = (
        f"; {report.conversions} conversions, {report.cache_hits} cache hits"
        if report.kind != "verify"
        else ""
    )
    cells = [line.split(" (", 1)[0] for line in compatibility_findings(report)]
    named = f"; {'; '.join(cells)}" if cells else ""
    return f"{report.headline()}{named}{cache}; {report.duration_s:.0f} s"


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
    """One line per skipped check: the targets it was skipped on (as the tables name them,
    separated by "; "), then its reason, once."""
    by_check: dict[str, dict[str, list[Outcome]]] = {}
    for outcome in report.not_checked:
        reasons = by_check.setdefault(outcome.check or outcome.nodeid, {})
        reasons.setdefault(_reason(outcome.message), []).append(outcome)
    lines = []
    for check, reasons in by_check.items():
        parts = [f"{_targets(outcomes)}: {reason}" for reason, outcomes in reasons.items()]
        lines.append(f"{check}: NOT CHECKED" + " — and".join(parts))
    return lines


def gpu_lines(report: Report) -> list[str]:
    """ "GPU: NOT CHECKED ..." when no row of the report ran on the GPU accelerator."""
    reason = gpu_not_checked({row.target.runtime for row in report.rows})
    return [reason] if reason else []


def _targets(outcomes: list[Outcome]) -> str:
    """`` on seq_len 16, fp32, litert; seq_len 64, fp32, litert``, or nothing for a check of
    the whole run."""
    targets = sorted({o.target for o in outcomes if o.target is not None}, key=display_key)
    return " on " + "; ".join(map(str, targets)) if targets else ""


def _reason(message: str) -> str:
    """A skip reason without its own "...: not checked:" lead (the line says it once)."""
    return NOT_CHECKED_LEAD.sub("", message or "", count=1) or "skipped"


def row_lines(report: Report) -> list[str]:
    """One line per configuration for the terminal: verdict, examples, error, headroom."""
    lines = []
    for row in sorted_rows(report):
        scale = f", logit scale {row.logit_scale:.3g}" if row.logit_scale is not None else ""
        numbers = (
            f"{row.examples} examples, max abs err {error(row.max_abs_err)}, "
            f"worst {headroom(row)}{scale}"
            if row.examples
            else "no examples recorded"
        )
        lines.append(f"{row.target}: {verdict(report.row_passed(row))}, {numbers}")
    return lines


def provenance_lines(report: Report) -> list[str]:
    """``file provenance: x.tflite was exported from weights ...`` (verify's file) and
    ``baseline provenance: shipped file ...`` (the gate's baseline): one line per role."""
    return [
        f"{role} provenance: {found['line'].removeprefix('provenance: ')}"
        for role, found in (report.provenance or {}).items()
    ]


def divergence_lines(report: Report) -> list[str]:
    """Per failing row: its stage line, then the first failing op (``checks/ops.py``)."""
    lines = []
    for row in sorted_rows(report):
        if row.divergence:
            lines.append(f"{row.target}: {row.divergence}")
        table = row.op_table if isinstance(row.op_table, dict) else {}
        ops = table.get("lines") if isinstance(table.get("lines"), list) else []
        lines += [f"{row.target}: {line}" for line in ops if isinstance(line, str)]
    return lines


# ---------------------------------------------------------------- runtime builds


def describe_build(build: dict) -> str:
    """``litert 2.3.0 on aarch64 (cortex-a76) under qemu-aarch64 10.0.2``: what ran a file."""
    text = f"{build.get('runtime')} {build.get('version')} on {build.get('arch')}"
    if build.get("cpu"):
        text += f" ({build['cpu']})"
    if build.get("emulator"):
        text += f" under {build['emulator']}"
    elif build.get("arch") == "aarch64":
        text += ", native (no emulation)"
    if build.get("accelerator") == "gpu":
        text += f", {describe_gpu_build(build)}"
    return text


def _runtime_label(runtime: str, rows) -> str:
    """A column's runtime as it ran: the build's own name, imported version, CPU."""
    build = next((row.runtime_build for row in rows if row.runtime_build), None)
    return f"{runtime} [{describe_build(build)}]" if build else runtime


def _version(text: str | None) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in str(text).split(".")[:3])
    except ValueError:
        return None


def claims_support(row) -> bool:
    """Whether the file's min_runtime_version covers the build that ran it. The claim is in
    TensorFlow's numbering: every LiteRT release (ai-edge-litert) postdates TF 2.16, which
    is above what litert-torch writes (2.9.0), so those builds are always covered."""
    build = row.runtime_build or {}
    if build.get("runtime") in ("litert", "compiled"):
        return True
    claimed, ran = _version(row.min_runtime_version), _version(build.get("version"))
    return claimed is not None and ran is not None and ran >= claimed


def _cell(report: Report, row) -> str:
    failing = [o for o in report.failures if o.target == row.target]
    labels = (
        ("crashed", "CRASHED"),
        ("hung", "HUNG"),
        ("cannot load", "FAILS TO LOAD"),
        ("does not load on the GPU", "FAILS TO LOAD ON THE GPU"),
        ("GPU accelerator failed", "FAILS ON THE GPU"),
    )
    for words, label in labels:
        found = next((o for o in failing if words in (o.message or "")), None)
        if found is not None:
            return f"{label}: {found.message}"
    top1 = f", top-1 {row.top1_agreement:.0%}" if row.top1_agreement is not None else ""
    numbers = f"max abs err {row.max_abs_err:.3g}{top1}"
    if not report.row_passed(row):
        return f"PARITY VIOLATED ({numbers})"
    return f"passed ({numbers})"


def compatibility_matrix(report: Report) -> tuple[list[str], list[list[str]]] | None:
    """Rows: each file (precision, seq_len or signature); columns: each runtime build; or
    None when the run used a single runtime."""
    rows = report.all_rows()
    runtimes = list(dict.fromkeys(row.target.runtime for row in rows))
    if len(runtimes) < 2:
        return None
    by_target = {row.target: row for row in rows}
    files = list(dict.fromkeys((row.target.quantization, row.target.seq_len) for row in rows))
    header = ["file"] + [
        _runtime_label(runtime, [r for r in rows if r.target.runtime == runtime])
        for runtime in runtimes
    ]
    body = []
    for quantization, seq_len in files:
        cells = [f"{precision_label(quantization)}, seq_len {seq_len}"]
        for runtime in runtimes:
            row = next(
                (r for t, r in by_target.items() if (t.quantization, t.seq_len, t.runtime)
                 == (quantization, seq_len, runtime)),
                None,
            )  # fmt: skip
            cells.append("—" if row is None else _cell(report, row))
        body.append(cells)
    return header, body


def compatibility_findings(report: Report) -> list[str]:
    """One line per file that a runtime build fails, naming it; and where the file's own
    min_runtime_version claims that build, saying so."""
    if compatibility_matrix(report) is None:
        return []
    lines = []
    for row in report.all_rows():
        cell = _cell(report, row)
        if cell.startswith("passed"):
            continue
        line = f"{row.target}: {cell}"
        if row.min_runtime_version and claims_support(row):
            line += (
                f"; the file claims min_runtime_version {row.min_runtime_version}, which "
                "includes this build"
            )
        lines.append(line)
    return lines


def outside_heading() -> str:
    """The heading of the numbers on inputs an app never sends (no valid frame)."""
    return f"{OUTSIDE} (no valid frame): run and shown, not judged"


def outside_line(name: str, tally: dict) -> str:
    """One check's numbers on examples outside the app contract, for every view."""
    failing = f", {tally['failed']} over the bound" if tally.get("failed") else ""
    worst = tally.get("max_abs_err")
    numbers = ""
    if worst is not None:
        numbers = f", max abs err {worst:.3g} ({tally['bound_ratio']:.3g}x bound)"
    return f"{name}: {tally['examples']} examples{numbers}{failing}"


def outside_lines(report: Report) -> list[str]:
    """Every row's numbers outside the app contract, under that heading; empty if none."""
    lines = []
    for row in report.rows:
        for name, tally in row.outside.items():
            lines.append(f"{row.target}: {outside_line(name, tally)}")
    if not lines:
        return []
    return [outside_heading()] + [f"  {line}" for line in lines]

"""Reading parity.json files and merging the shards of one run into one report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from signbart_parity.errors import ReportError
from signbart_parity.fileio import read_text
from signbart_parity.reports.corpus import merge_corpus
from signbart_parity.reports.model import SCHEMA, Report, Row
from signbart_parity.targets import Target


def load_report(path: str | Path) -> Report:
    """Read a parity.json file; raise ReportError (one sentence) when it is not one."""
    path = Path(path)
    text = read_text(
        path,
        ReportError,
        missing="report file not found; pass an existing parity.json.",
        unreadable="cannot read the report ({reason}); pass a parity.json.",
    )
    from signbart_parity.schemas import ReportDocument
    from signbart_parity.validate import InvalidDocument, parse_json, validated

    try:
        data = parse_json(text, name="parity.json")
        if isinstance(data, dict) and data.get("schema") == SCHEMA:  # else from_dict says so
            validated(ReportDocument, data, name="parity report")
    except InvalidDocument as exc:
        raise ReportError(f"{path}: {exc}; pass the parity.json a run wrote.") from None
    return Report.from_dict(data, source=str(path))


def merge_reports(reports: Sequence[Report], *, sources: Sequence[str] | None = None) -> Report:
    """Combine shard reports of one run into the report a single run would have written.

    Shards are pytest-xdist workers (rows of one target are combined) or CI jobs (disjoint
    targets). Outcomes are concatenated, so one failing shard fails the merged verdict;
    ``duration_s`` is the slowest shard's (shards run in parallel).

    Raises:
        ReportError: no reports, or shards of different checkpoints or configs.
    """
    names = list(sources) if sources is not None else [f"shard {i}" for i in range(len(reports))]
    if not reports:
        raise ReportError("no reports to merge; pass at least one parity.json.")
    first = reports[0]
    for report, name in zip(reports[1:], names[1:], strict=True):
        for part in ("checkpoint", "config"):
            mine, theirs = report_sha(report, part), report_sha(first, part)
            if mine != theirs:
                raise ReportError(
                    f"{name}: its {part} ({mine}) differs from {names[0]}'s ({theirs}); "
                    "merge only shards of one run."
                )
    rows: dict[Target, Row] = {}
    for report in reports:
        for row in report.rows:
            rows[row.target] = rows[row.target].combine(row) if row.target in rows else row
    merged = Report(
        kind="merged",
        checkpoint=first.checkpoint,
        config=first.config,
        environment=first.environment,
        rows=[rows[target] for target in sorted(rows)],
        outcomes=[outcome for report in reports for outcome in report.outcomes],
        incomplete="; ".join(
            f"{name}: {report.incomplete}"
            for report, name in zip(reports, names, strict=True)
            if report.incomplete
        )
        or None,
        conversions=sum(report.conversions for report in reports),
        cache_hits=sum(report.cache_hits for report in reports),
        duration_s=max(report.duration_s for report in reports),
        shard_durations_s=[report.duration_s for report in reports],
        corpus=merge_corpus([report.corpus for report in reports]),
    )
    for report in reports:
        merged.tolerances.update(report.tolerances)
        merged.torch_latency_ms.update(report.torch_latency_ms)
        if report.provenance:  # shards of one gate run share their baseline
            merged.provenance = (merged.provenance or {}) | report.provenance
    environments = {json.dumps(report.environment, sort_keys=True) for report in reports}
    if len(environments) > 1:
        merged.environment_mismatch = [report.environment for report in reports]
    return merged


def report_sha(report: Report, part: str) -> str | None:
    value = getattr(report, part)
    return value.get("sha256") if isinstance(value, dict) else None

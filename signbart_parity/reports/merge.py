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
from signbart_parity.validate import InvalidDocument, parse_json, validated


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

    Shards written with ``--parity-shard`` are checked first (``check_one_run``) and merged
    in shard order.

    Raises:
        ReportError: no reports, shards of different runs, a missing or repeated shard, or
            two runs that checked the same target.
    """
    names = list(sources) if sources is not None else [f"shard {i}" for i in range(len(reports))]
    if not reports:
        raise ReportError("no reports to merge; pass at least one parity.json.")
    reports, names = check_one_run(reports, names)
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
        run=first.run,
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


# ---------------------------------------------------------------- one run's shards


def check_one_run(
    reports: Sequence[Report], names: Sequence[str]
) -> tuple[list[Report], list[str]]:
    """The reports (and their names) in shard order, once they are known to be the shards
    of one run, every shard once; ReportError (one line naming the files) otherwise.

    Reports without ``--parity-shard`` that carry a run identity must not check the same
    target twice (two runs of one checkpoint would count every example twice); reports
    written before the identity was recorded are merged as before."""
    pairs = list(zip(reports, names, strict=True))
    sharded = [(report, name) for report, name in pairs if report.shard is not None]
    if not sharded:
        _refuse_overlap([(report, name) for report, name in pairs if report.run is not None])
        return list(reports), list(names)
    whole = next(((r, n) for r, n in pairs if r.shard is None), None)
    if whole is not None:
        raise ReportError(
            f"{whole[1]} is a whole run but {sharded[0][1]} is shard {sharded[0][0].shard}; "
            "merge the shards of one run, each written with --parity-shard K/N."
        )
    _refuse_other_runs(pairs)
    ordered = sorted(pairs, key=lambda pair: _shard_number(pair[0].shard))
    _refuse_repeated_or_missing(ordered)
    return [report for report, _ in ordered], [name for _, name in ordered]


def _shard_number(shard: str) -> tuple[int, int]:
    number, total = (int(part) for part in shard.split("/"))
    return number, total


def _fields(identity: dict | None, prefix: str = "") -> dict[str, object]:
    """A run identity flattened to ``options.runtimes``-style field names."""
    flat: dict[str, object] = {}
    for key, value in (identity or {}).items():
        if isinstance(value, dict):
            flat |= _fields(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _refuse_other_runs(pairs: list[tuple[Report, str]]) -> None:
    """Every shard has the first one's identity and shard count."""
    first, first_name = pairs[0]
    mine = _fields(first.run) | {"shard count": _shard_number(first.shard)[1]}
    for report, name in pairs[1:]:
        theirs = _fields(report.run) | {"shard count": _shard_number(report.shard)[1]}
        for field in dict.fromkeys([*mine, *theirs]):
            if mine.get(field) != theirs.get(field):
                raise ReportError(
                    f"{name} is a shard of another run: its {field} is "
                    f"{_short(theirs.get(field))}, {first_name}'s is {_short(mine.get(field))}; "
                    "merge only the shards of one run."
                )


def _short(value: object) -> str:
    """A value for a one-line message: hashes cut to 12 hex digits."""
    text = str(value)
    return text[:12] if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def _refuse_repeated_or_missing(ordered: list[tuple[Report, str]]) -> None:
    total = _shard_number(ordered[0][0].shard)[1]
    seen: dict[int, str] = {}
    for report, name in ordered:
        number = _shard_number(report.shard)[0]
        if number in seen:
            raise ReportError(
                f"shard {report.shard} is given twice ({seen[number]} and {name}); "
                "pass each shard's parity.json once."
            )
        seen[number] = name
    missing = [f"{number}/{total}" for number in range(1, total + 1) if number not in seen]
    if missing:
        raise ReportError(
            f"missing shard{'s' * (len(missing) > 1)} {', '.join(missing)} of the run "
            f"(given: {', '.join(f'{number}/{total} {name}' for number, name in seen.items())}); "
            "pass every shard's parity.json."
        )


def _refuse_overlap(pairs: list[tuple[Report, str]]) -> None:
    """Two whole runs that checked one target are two runs, not parts of one."""
    owner: dict[Target, str] = {}
    for report, name in pairs:
        targets = {row.target for row in report.rows}
        targets |= {o.target for o in report.outcomes if o.target is not None}
        for target in sorted(targets):
            if target in owner:
                raise ReportError(
                    f"{owner[target]} and {name} both checked {target.id}: they are two runs, "
                    "not parts of one; merge the shards of one run (--parity-shard K/N)."
                )
            owner[target] = name

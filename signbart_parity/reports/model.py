"""The parity report's one schema: a row of numbers per target (``row.py``), every check's
outcome, and the verdict derived from both.

The gate, ``verify`` and ``report merge`` all build a ``Report`` and write it with
``to_dict()``; the renderers and ``report merge`` read it back with ``Report.from_dict()``.
The verdict is never stored by hand: ``Report.passed`` is true only when at least one check
passed, no check failed or errored, every row's numbers are within their bounds and the run
completed. Skipped checks are listed as "not checked", never counted as passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from signbart_parity.checks.tolerances import TOLERANCES
from signbart_parity.errors import ReportError
from signbart_parity.fileio import file_sha256
from signbart_parity.reports.row import VERSUS_PYTORCH, Row
from signbart_parity.targets import Target, precision_label, quantization_of
from signbart_parity.versions import environment

SCHEMA = 2
OUTCOMES = ("passed", "failed", "error", "skipped")
FAILING = ("failed", "error")
__all__ = [
    "FAILING",
    "OUTCOMES",
    "SCHEMA",
    "VERSUS_PYTORCH",
    "Outcome",
    "Report",
    "Row",
    "Target",
    "file_ref",
    "first_line",
]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Outcome:
    """What happened to one check (a gate test, or one of verify's properties)."""

    nodeid: str
    outcome: str  # one of OUTCOMES
    check: str | None = None
    target: Target | None = None
    message: str = ""  # first line of the failure, error or skip reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "check": self.check,
            "target": self.target.to_dict() if self.target else None,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Outcome:
        target = data.get("target")
        return cls(
            nodeid=str(data["nodeid"]),
            outcome=str(data["outcome"]),
            check=data.get("check"),
            target=Target.from_dict(target) if target else None,
            message=str(data.get("message") or ""),
        )


def first_line(text: Any, limit: int = 300) -> str:
    """The text's first line, cut at a space (never mid-word) to fit ``limit`` with its "…"."""
    line = str(text or "").strip().split("\n", 1)[0]
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:|*") + "…"


@dataclass
class Report:
    """One run of the gate or ``verify`` (or several, merged): numbers, outcomes, verdict."""

    kind: str  # "gate", "verify" or "merged"
    checkpoint: dict
    config: dict
    environment: dict
    tolerances: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    created: str = field(default_factory=utc_now)
    # Why the run did not finish (interrupted, a collection error...); None when it did.
    incomplete: str | None = None
    torch_latency_ms: dict[str, float] = field(default_factory=dict)
    timing: dict | None = None
    conversions: int = 0
    cache_hits: int = 0
    duration_s: float = 0.0
    shard_durations_s: list[float] | None = None
    environment_mismatch: list[dict] | None = None
    contract: dict | None = None
    # Provenance stamps seen, by role ("file": verify's file, "baseline": the gate's
    # shipped file): checks/provenance.py's findings, each with its "line" for people.
    provenance: dict[str, dict] | None = None
    corpus: dict | None = None  # the gate's counterexample corpus (gate/corpus.py)
    # The gate run's identity (gate/shard.py: weights, config, options, tool version), which
    # ``report merge`` compares; None in files written before it was recorded.
    run: dict | None = None
    shard: str | None = None  # "K/N" for one shard of a run (--parity-shard), else None

    # ------------------------------------------------------------------ the verdict
    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.outcome in FAILING]

    @property
    def not_checked(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.outcome == "skipped"]

    def count(self, outcome: str) -> int:
        return sum(o.outcome == outcome for o in self.outcomes)

    def row_passed(self, row: Row) -> bool:
        return row.passed and not any(o.target == row.target for o in self.failures)

    def all_rows(self) -> list[Row]:
        """Rows sorted by target, plus an empty failed row for every failing target whose
        numbers were never recorded (a test that errored before comparing anything)."""
        rows = {row.target: row for row in self.rows}
        for outcome in self.failures:
            if outcome.target is not None and outcome.target not in rows:
                rows[outcome.target] = Row(outcome.target, passed=False)
        return [rows[target] for target in sorted(rows)]

    def verdict_reasons(self) -> list[str]:
        """Why the verdict is FAIL; empty when it is PASS."""
        reasons = []
        if self.incomplete:
            reasons.append(f"run incomplete: {self.incomplete}")
        failed, errors = self.count("failed"), self.count("error")
        if failed or errors:
            reasons.append(f"{failed} check(s) failed, {errors} errored")
        bad_rows = [row for row in self.rows if not row.passed]
        if bad_rows:
            reasons.append(f"{len(bad_rows)} configuration(s) recorded examples outside the bound")
        if not self.count("passed"):
            reasons.append("no check passed (nothing was checked)")
        return reasons

    @property
    def passed(self) -> bool:
        return not self.verdict_reasons()

    def headline(self) -> str:
        rows = self.all_rows()
        bad = sum(not self.row_passed(row) for row in rows)
        counts = f"{self.count('passed')} checks passed"
        if self.passed:
            text = f"PASS: {counts} on {len(rows)} configuration{'s' * (len(rows) != 1)}"
        else:
            text = (
                f"FAIL: {self.count('failed')} failed, {self.count('error')} errored, "
                f"{counts}; {bad}/{len(rows)} configurations fail"
            )
            if self.incomplete:
                text += f"; run incomplete: {self.incomplete}"
            elif not self.count("passed"):
                text += "; nothing was checked"
        skipped = self.count("skipped")
        if skipped:
            text += f"; {skipped} NOT CHECKED"
        return text

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "tool": "signbart-parity",
            "kind": self.kind,
            "created": self.created,
            "passed": self.passed,
            "verdict_reasons": self.verdict_reasons(),
            "headline": self.headline(),
            "checkpoint": self.checkpoint,
            "config": self.config,
            "environment": self.environment,
            "tolerances": self.tolerances,
            "results": [row.to_dict(passed=self.row_passed(row)) for row in self.all_rows()],
            "outcomes": [outcome.to_dict() for outcome in self.outcomes],
            "incomplete": self.incomplete,
            "torch_latency_ms": self.torch_latency_ms,
            "timing": self.timing,
            "conversions": self.conversions,
            "cache_hits": self.cache_hits,
            "duration_s": self.duration_s,
            "shard_durations_s": self.shard_durations_s,
            "environment_mismatch": self.environment_mismatch,
            "contract": self.contract,
            "provenance": self.provenance,
            "corpus": self.corpus,
            "run": self.run,
            "shard": self.shard,
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<report>") -> Report:
        """Read a parity.json dict; ReportError (one sentence) when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ReportError(
                f"{source}: not a parity report (no 'results' list); "
                "pass the parity.json a run wrote."
            )
        if data.get("schema") != SCHEMA:
            raise ReportError(
                f"{source}: report schema {data.get('schema')!r} is not {SCHEMA}; "
                "re-run the parity tests with this version of signbart-parity."
            )
        try:
            rows = [Row.from_dict(row) for row in data["results"]]
            outcomes = [Outcome.from_dict(o) for o in data.get("outcomes") or []]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ReportError(
                f"{source}: a result or outcome lacks its fields; the file is damaged, "
                "re-run the parity tests."
            ) from None
        report = cls(
            kind=str(data.get("kind", "gate")),
            checkpoint=data.get("checkpoint") or {},
            config=data.get("config") or {},
            environment=data.get("environment") or {},
            tolerances=data.get("tolerances") or {},
            rows=rows,
            outcomes=outcomes,
            created=str(data.get("created", "")),
            incomplete=data.get("incomplete"),
            torch_latency_ms=data.get("torch_latency_ms") or {},
            timing=data.get("timing"),
            conversions=int(data.get("conversions") or 0),
            cache_hits=int(data.get("cache_hits") or 0),
            duration_s=float(data.get("duration_s") or 0.0),
            shard_durations_s=data.get("shard_durations_s"),
            environment_mismatch=data.get("environment_mismatch"),
            contract=data.get("contract"),
            provenance=data.get("provenance"),
            corpus=data.get("corpus"),
            run=data.get("run"),
            shard=data.get("shard"),
        )
        if data.get("passed") is not True and report.passed:
            # A file that says FAIL stays FAIL, whatever its rows say.
            report.incomplete = "the report file records a FAIL verdict"
        return report


def new_report(
    kind: str,
    *,
    checkpoint: str | Path,
    layout: str,
    config_path: str | Path,
    config_values: dict,
    quantizations: Iterable[str],
    rows: list[Row],
    outcomes: list[Outcome],
    **fields: Any,
) -> Report:
    """A report of one run of either front door (the gate, ``verify``): the checkpoint and
    config it judged, the environment, the tolerances of the precisions it checked, its rows
    and every check's outcome. ``fields`` are the door's own extras (timing, contract...)."""
    return Report(
        kind=kind,
        checkpoint=file_ref(checkpoint, layout=layout),
        config=file_ref(config_path, values=config_values),
        environment=environment(),
        tolerances={
            precision_label(q): TOLERANCES[quantization_of(q)].describe()
            for q in dict.fromkeys(quantizations)
        },
        rows=rows,
        outcomes=outcomes,
        **fields,
    )


def file_ref(path: str | Path, **extra: Any) -> dict[str, Any]:
    """How a report names an input file: its path and sha256."""
    return {"path": str(path), "sha256": file_sha256(path), **extra}

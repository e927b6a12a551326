"""The parity report's one schema: a row of numbers per target, every check's outcome, and
the verdict derived from both.

The gate, ``verify`` and ``report merge`` all build a ``Report`` and write it with
``to_dict()``; the renderers and ``report merge`` read it back with ``Report.from_dict()``.
The verdict is never stored by hand: ``Report.passed`` is true only when at least one check
passed, no check failed or errored, every row's numbers are within their bounds and the run
completed. Skipped checks are listed as "not checked", never counted as passed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from signbart_parity.errors import ReportError

if TYPE_CHECKING:
    from signbart_parity.compare import Comparison

SCHEMA = 2
OUTCOMES = ("passed", "failed", "error", "skipped")
FAILING = ("failed", "error")
# Checks that compare TFLite with PyTorch: they feed the error columns and the plots. The
# others (padding, determinism, bucket) compare the file with itself and only count.
VERSUS_PYTORCH = ("parity", "real-sample", "agreement")
MAX_SAMPLES = 500  # per row: enough for the plots, small enough for the JSON
WORST_KEPT = 5


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, order=True)
class Target:
    """One exported file under test, run by one runtime."""

    seq_len: int
    quantization: str
    runtime: str

    def __str__(self) -> str:
        return f"seq_len {self.seq_len}, {self.quantization}, {self.runtime}"

    def to_dict(self) -> dict[str, Any]:
        return {"seq_len": self.seq_len, "quantization": self.quantization, "runtime": self.runtime}

    @classmethod
    def from_dict(cls, data: dict) -> Target:
        return cls(int(data["seq_len"]), str(data["quantization"]), str(data["runtime"]))


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
    line = str(text or "").strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@dataclass
class Row:
    """The numbers recorded for one target: examples, errors, agreement, file, latency."""

    target: Target
    passed: bool = True  # every recorded comparison was within its bound
    examples: int = 0
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    top1_agreed: int = 0
    top1_compared: int = 0
    oracle_max_abs_err: float | None = None
    tflite_oracle_max_abs_err: float | None = None
    checks: dict[str, dict[str, int]] = field(default_factory=dict)
    divergence: str | None = None
    file: str | None = None
    signature: str | None = None  # which signature of ``file`` (set for bundles)
    size_bytes: int | None = None
    latency_ms: float | None = None
    samples: list[dict] = field(default_factory=list)
    worst: list[dict] = field(default_factory=list)

    @property
    def top1_agreement(self) -> float | None:
        return self.top1_agreed / self.top1_compared if self.top1_compared else None

    def add(
        self,
        check: str,
        comparison: Comparison,
        masks,
        *,
        descriptions: Sequence[str] | None = None,
        oracle_err: float | None = None,
        tflite_oracle_err: float | None = None,
    ) -> None:
        """Add one comparison's examples to this row under ``check``."""
        from signbart_parity.masks import summarise

        masks = np.asarray(masks)
        self.examples += comparison.examples
        self.passed &= comparison.passed
        tally = self.checks.setdefault(check, {"examples": 0, "failed": 0})
        tally["examples"] += comparison.examples
        tally["failed"] += comparison.failing_examples
        versus = check in VERSUS_PYTORCH
        if versus:
            self.max_abs_err = max(self.max_abs_err, comparison.max_abs_err)
            self.max_rel_err = max(self.max_rel_err, comparison.max_rel_err)
            self.top1_agreed += round(comparison.top1_agreement * comparison.examples)
            self.top1_compared += comparison.examples
            self.oracle_max_abs_err = _max(self.oracle_max_abs_err, oracle_err)
            self.tflite_oracle_max_abs_err = _max(self.tflite_oracle_max_abs_err, tflite_oracle_err)
        worst = []
        for index, (err, ok) in enumerate(
            zip(comparison.example_abs_err, comparison.example_passed, strict=True)
        ):
            mask = masks[index]
            sample = {
                "abs_err": float(err),
                "valid_frames": int(mask.sum()),
                "mask": summarise(mask),
                "property": check,
                "passed": bool(ok),
            }
            if versus and len(self.samples) < MAX_SAMPLES:
                self.samples.append(sample)
            if versus or not ok:
                what = descriptions[index] if descriptions else sample["mask"]
                verdict = "within the bound" if ok else "OUTSIDE the bound"
                worst.append(sample | {"message": f"{check}: {what}: {verdict}"})
        self.worst = _worst_first(self.worst + worst)

    def combine(self, other: Row) -> Row:
        """One row from two shards' rows of the same target (xdist workers, CI jobs)."""
        combined = copy.deepcopy(self)
        combined.passed = self.passed and other.passed
        combined.examples += other.examples
        combined.max_abs_err = max(self.max_abs_err, other.max_abs_err)
        combined.max_rel_err = max(self.max_rel_err, other.max_rel_err)
        combined.top1_agreed += other.top1_agreed
        combined.top1_compared += other.top1_compared
        combined.oracle_max_abs_err = _max(self.oracle_max_abs_err, other.oracle_max_abs_err)
        combined.tflite_oracle_max_abs_err = _max(
            self.tflite_oracle_max_abs_err, other.tflite_oracle_max_abs_err
        )
        for check, tally in other.checks.items():
            mine = combined.checks.setdefault(check, {"examples": 0, "failed": 0})
            for key in ("examples", "failed"):
                mine[key] += int(tally.get(key, 0))
        combined.divergence = self.divergence or other.divergence
        combined.file = self.file or other.file
        combined.signature = self.signature or other.signature
        combined.size_bytes = self.size_bytes or other.size_bytes
        combined.latency_ms = self.latency_ms if self.latency_ms is not None else other.latency_ms
        combined.samples = (self.samples + other.samples)[:MAX_SAMPLES]
        combined.worst = _worst_first(self.worst + other.worst)
        return combined

    def to_dict(self, *, passed: bool | None = None) -> dict[str, Any]:
        data = self.target.to_dict()
        for item in fields(self):
            if item.name != "target":
                data[item.name] = getattr(self, item.name)
        data["top1_agreement"] = self.top1_agreement
        if passed is not None:
            data["passed"] = passed
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Row:
        known = {item.name for item in fields(cls)} - {"target"}
        values = {key: copy.deepcopy(value) for key, value in data.items() if key in known}
        return cls(target=Target.from_dict(data), **values)


def _max(a: float | None, b: float | None) -> float | None:
    values = [value for value in (a, b) if value is not None]
    return max(values) if values else None


def _worst_first(samples: list[dict]) -> list[dict]:
    """Failing examples first, then by error, largest first."""
    ordered = sorted(samples, key=lambda s: (bool(s.get("passed")), -float(s.get("abs_err", 0))))
    return ordered[:WORST_KEPT]


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
            text = f"PASS: {counts} on {len(rows)} configurations"
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
        )
        if data.get("passed") is not True and report.passed:
            # A file that says FAIL stays FAIL, whatever its rows say.
            report.incomplete = "the report file records a FAIL verdict"
        return report


def load_report(path: str | Path) -> Report:
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
    )
    for report in reports:
        merged.tolerances.update(report.tolerances)
        merged.torch_latency_ms.update(report.torch_latency_ms)
    environments = {json.dumps(report.environment, sort_keys=True) for report in reports}
    if len(environments) > 1:
        merged.environment_mismatch = [report.environment for report in reports]
    return merged


def report_sha(report: Report, part: str) -> str | None:
    value = getattr(report, part)
    return value.get("sha256") if isinstance(value, dict) else None


def file_ref(path: str | Path, **extra: Any) -> dict[str, Any]:
    """How a report names an input file: its path and sha256."""
    from signbart_parity.checkpoint import file_sha256

    return {"path": str(path), "sha256": file_sha256(path), **extra}

"""From check results to report rows and outcomes: the one place both doors record what a
check of the table (``checks/table.py``) found, and where ``verify``'s report is built.

The gate records each drawn example's result into its target's row with ``record``; its
outcomes are pytest's own (``gate/run.py``). ``verify`` records each signature's results
the same way and gets one outcome per check from ``check_outcome``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.checks.provenance import MATCHES
from signbart_parity.reports.model import Outcome, Report, Row, new_report
from signbart_parity.reports.repair import RepairPlan, name_fixes
from signbart_parity.runtime_specs import app_builds_not_checked
from signbart_parity.targets import Target

if TYPE_CHECKING:
    from signbart_parity.checks.baseline import BaselineResult
    from signbart_parity.checks.provenance import ProvenanceFinding
    from signbart_parity.checks.table import CheckResult
    from signbart_parity.checks.verify import SignatureCheck
    from signbart_parity.model.config import SignBartConfig


def record(row: Row, result: CheckResult, *, oracle: tuple[float, float] | None = None) -> None:
    """Add one check result to ``row``: its judged examples, and apart those outside the
    app contract; ``oracle`` the (PyTorch, TFLite) errors against float64, if measured."""
    row.add(
        result.name,
        result.comparison,
        result.masks,
        descriptions=result.descriptions,
        oracle_err=oracle[0] if oracle else None,
        tflite_oracle_err=oracle[1] if oracle else None,
    )
    if result.outside is not None:
        row.add_outside(result.name, result.outside)


def check_outcome(nodeid: str, result: CheckResult, target: Target) -> Outcome:
    passed = result.passed
    message = "" if passed else result.comparison.message().split("\n", 1)[0]
    return Outcome(nodeid, "passed" if passed else "failed", result.name, target, message)


def verify_report(
    *,
    results: list[SignatureCheck],
    quantization: str,
    config_path: Path,
    checkpoint_path: Path,
    checkpoint_layout: str,
    config: SignBartConfig,
    baseline: tuple[Path, BaselineResult] | None,
    duration: float,
    runtimes: tuple[str, ...] = ("litert",),
    crashes: list[tuple[str, int, str]] = (),
    path: Path | None = None,
    provenance: ProvenanceFinding | None = None,
    repair: RepairPlan | None = None,
) -> Report:
    """The parity report of this file: a row per signature (on its runtime), an outcome
    per check of each signature, and the baseline comparison, if any; with ``repair``,
    each failing quantized row names its fix (``reports/repair.py``)."""
    rows, outcomes = [], []
    path = results[0].tflite.path if results else path
    if provenance is not None:
        outcomes.append(_provenance_outcome(provenance, path))
    several = len({each.tflite.seq_len for each in results}) > 1
    for found in results:
        tflite = found.tflite
        target = Target(tflite.seq_len, quantization, tflite.runtime)
        row = Row(target)
        row.describe_file(tflite)
        row.divergence = found.divergence
        row.op_table = found.op_table.to_dict() if found.op_table is not None else None
        prefix = f"verify {path}::" + (f"{found.where}::" if several else "")
        prefix += f"{tflite.runtime}::" if len(runtimes) > 1 else ""
        for check in found.checks:
            record(row, check, oracle=found.oracle if check.name == "parity" else None)
            outcomes.append(check_outcome(prefix + check.name, check, target))
        rows.append(row)
    outcomes += _other_outcomes(path, baseline, crashes, quantization, runtimes)
    report = new_report(
        "verify",
        checkpoint=checkpoint_path,
        layout=checkpoint_layout,
        config_path=config_path,
        config_values=config.to_dict(),
        quantizations=[quantization],
        rows=rows,
        outcomes=outcomes,
        duration_s=round(duration, 2),
        contract={
            found.where or "serving_default": found.tflite.signature.to_dict()
            for found in results
            if found.tflite.runtime == results[0].tflite.runtime
        }
        or None,
        provenance={"file": provenance.to_dict()} if provenance is not None else None,
    )
    if repair is not None:
        name_fixes(report, repair)
    return report


def _other_outcomes(path, baseline, crashes, quantization: str, runtimes) -> list[Outcome]:
    """The baseline comparison, builds that crashed on the file, and unchecked app builds."""
    outcomes = []
    if baseline is not None:
        _, result = baseline
        outcomes.append(
            Outcome(
                f"verify {path}::baseline",
                "passed" if result.passed else "failed",
                check="baseline",
                message="" if result.passed else result.summary(),
            )
        )
    for runtime, seq_len, message in crashes:  # the build died on the file: a failed target
        outcomes.append(
            Outcome(
                f"verify {path}::{runtime}",
                "error",
                check="parity",
                target=Target(seq_len, quantization, runtime),
                message=message,
            )
        )
    unchecked = app_builds_not_checked(runtimes)
    if unchecked:
        outcomes.append(
            Outcome(
                f"verify {path}::runtime-build", "skipped", check="runtime-build", message=unchecked
            )
        )
    return outcomes


def _provenance_outcome(finding: ProvenanceFinding, path) -> Outcome:
    """Stale is a failed check, a matching stamp a passed one, no stamp not checked."""
    if finding.stale:
        outcome, message = "failed", f"{finding.line}; re-export it: {finding.reexport}"
    elif finding.status == MATCHES:
        outcome, message = "passed", ""
    else:
        outcome, message = "skipped", finding.line
    return Outcome(f"verify {path}::provenance", outcome, check="provenance", message=message)

"""The fix a report names for a failing quantized target, for every door.

A failing dynamic-int8 or weight-only-int8 target (``checks.repair.REPAIRABLE``) gets, in
its row's ``repair`` entry (parity.json), the ``signbart-parity repair`` command that
searches for a recipe passing every runtime of the run (``RepairPlan.command``: the one
builder verify's ``fix:`` line uses too), where that command writes its file, and
``status``: ``not searched``; or, when the run searched (the gate's ``--parity-repair``),
``found`` (the recipe, the file written, its size and the candidates table) or ``nothing
passed`` (the table and the plain sentence). The views read it through ``fix_entries``.
"""

from __future__ import annotations

import math
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.checks.repair import REPAIRABLE, Judge, repair_to
from signbart_parity.checks.table import CHECKS
from signbart_parity.errors import SignbartParityError
from signbart_parity.reports.columns import sorted_rows
from signbart_parity.reports.model import Report, Row
from signbart_parity.targets import Target, precision_label

if TYPE_CHECKING:
    from signbart_parity.checks.repair import Candidate, RepairResult
    from signbart_parity.export.exporter import Exporter
    from signbart_parity.model.signbart import SignBart

NOT_SEARCHED, FOUND, NOTHING_PASSED = "not searched", "found", "nothing passed"
STOPPED = "search stopped"
# Failing checks a quantizer recipe can change (the numbers, or the build crashing on the
# file); a changed contract, a baseline or the wrong build is not the recipe's to fix.
FIXABLE_CHECKS = frozenset(CHECKS) | {"corpus"}


@dataclass(frozen=True)
class RepairPlan:
    """What a fix names: the model, the runtimes the run judged, how it judged them, and
    where a repaired file goes (``file`` for verify's one file, else ``folder``)."""

    config: Path
    checkpoint: Path
    runtimes: tuple[str, ...]
    judge_outside: bool = False
    folder: Path = Path(".")
    file: Path | None = None
    seq_lens: tuple[int, ...] | None = None  # every length of a bundle, repaired together

    def lengths(self, seq_len: int) -> tuple[int, ...]:
        return self.seq_lens or (seq_len,)

    def output(self, lengths: tuple[int, ...], quantization: str) -> Path:
        return self.file or self.folder / output_name(lengths, quantization)

    def command(self, lengths: tuple[int, ...], quantization: str) -> str:
        """The ``signbart-parity repair`` command line for these lengths and precision."""
        words = [
            "signbart-parity", "repair", "--config", str(self.config),
            "--checkpoint", str(self.checkpoint),
            "--seq-len", ",".join(str(n) for n in sorted(lengths)),
            "--quantization", quantization, "--runtime", ",".join(self.runtimes),
            "--output", str(self.output(lengths, quantization)),
        ]  # fmt: skip
        if self.judge_outside:  # repair judges its candidates as the run did
            words.append("--judge-outside-contract")
        return shlex.join(words)


def output_name(lengths: tuple[int, ...], quantization: str) -> str:
    """``seq_len16-dynamic-int8.tflite`` (``seq_len16+64-...`` for a bundle)."""
    joined = "+".join(str(n) for n in sorted(lengths))
    return f"seq_len{joined}-{precision_label(quantization)}.tflite"


def fix_line(command: str, quantization: str) -> str:
    """verify's one ``fix:`` line."""
    return (
        f"fix: repair searches quantizer recipes for the smallest {quantization} file that "
        f"passes every runtime above: {command}"
    )


def fixable_rows(report: Report) -> list[Row]:
    """The failing rows a recipe could fix: a repairable precision whose numbers went over
    their bound, or with a failed or errored check of the table."""
    found = []
    for row in report.all_rows():
        if row.target.quantization not in REPAIRABLE or report.row_passed(row):
            continue
        failing = [o for o in report.failures if o.target == row.target]
        if not row.passed or any(o.check in FIXABLE_CHECKS for o in failing):
            found.append(row)
    return found


def name_fixes(report: Report, plan: RepairPlan) -> list[Row]:
    """Give every fixable row its ``repair`` entry (kept where a search already recorded
    one); a failing target with no numbers gets its row. Returns those rows."""
    rows = fixable_rows(report)
    for row in rows:
        if not any(kept is row for kept in report.rows):
            row.passed = True  # no numbers recorded: none over a bound (its checks failed)
            report.rows.append(row)
        if row.repair is None:
            lengths = plan.lengths(row.target.seq_len)
            row.repair = {
                "command": plan.command(lengths, row.target.quantization),
                "output": str(plan.output(lengths, row.target.quantization)),
                "seq_lens": list(lengths),
                "status": NOT_SEARCHED,
            }
    return rows


def repair_failing(
    report: Report,
    plan: RepairPlan,
    model: SignBart,
    *,
    exporter: Exporter,
    budget: float,
    examples: int,
    seed: int,
    progress: Callable[[str], None],
) -> None:
    """The run's repair step (the gate's ``--parity-repair``): repair's search for each
    failing quantized (lengths, precision) over the plan's runtimes, ``budget`` seconds
    each, each chosen file written to ``plan.output``; what it found into the rows. The
    verdict is not touched: a repaired file is a proposal until it is verified.

    A search that stops on an error (the toolchain, a folder it cannot write) says so in
    its rows and the next one runs: the report of the checks is never lost to it."""
    groups: dict[tuple[tuple[int, ...], str], list[Row]] = {}
    for row in name_fixes(report, plan):
        key = (plan.lengths(row.target.seq_len), row.target.quantization)
        groups.setdefault(key, []).append(row)
    for (lengths, quantization), rows in groups.items():
        output = plan.output(lengths, quantization)
        what = f"seq_len {','.join(map(str, lengths))}, {precision_label(quantization)}"
        progress(f"repair: {what}: searching for a file that passes {', '.join(plan.runtimes)}")
        judge = Judge(
            model, quantization, plan.runtimes, examples, seed, judge_outside=plan.judge_outside
        )
        started = time.monotonic()
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            repaired = repair_to(
                output,
                judge,
                exporter=exporter,
                lengths=lengths,
                deadline=started + budget,
                progress=progress,
            )
        except (SignbartParityError, OSError) as exc:
            sentence = f"repaired recipe: unknown: repair's search stopped ({exc})"
            for row in rows:
                row.repair = {**(row.repair or {}), "status": STOPPED, "sentence": sentence}
            progress(f"repair: {what}: {sentence}")
            continue
        record_search(
            rows,
            repaired.result,
            runtimes=plan.runtimes,
            fp32_bytes=repaired.fp32_bytes,
            budget=budget,
            written=repaired.written,
            seconds=time.monotonic() - started,
        )
        progress(f"repair: {what}: {rows[0].repair['sentence']}")


def record_search(
    rows: list[Row],
    result: RepairResult,
    *,
    runtimes: tuple[str, ...],
    fp32_bytes: int,
    budget: float,
    written: Path | None,
    seconds: float,
) -> None:
    """What one search found, into each row it was for (their ``repair`` entries)."""
    chosen = result.chosen
    # The written file's own size: the stamp changes its metadata, not the weights.
    size = written.stat().st_size if written is not None else None
    entry = {
        "status": FOUND if chosen is not None else NOTHING_PASSED,
        "runtimes": list(runtimes),
        "budget_s": budget,
        "seconds": round(seconds, 1),
        "fp32_size_bytes": fp32_bytes,
        "recipe": chosen.recipe.text if chosen is not None else None,
        "file": str(written) if written is not None else None,
        "size_bytes": size,
        "candidates": [_candidate(c) for c in result.tried],
        "table": table_lines(result, runtimes, fp32_bytes),
        "sentence": found_sentence(chosen, written, size, fp32_bytes)
        if chosen is not None
        else f"repaired recipe: none: nothing within the budget passes. "
        f"{nothing_passed(result, budget)}",
    }
    for row in rows:
        row.repair = {**(row.repair or {}), **entry}


def _candidate(candidate: Candidate) -> dict:
    return {
        "recipe": candidate.recipe.text,
        "size_bytes": candidate.size_bytes,
        "passed": candidate.passed,
        "targets": {v.runtime: _verdict(v) for v in candidate.verdicts},
    }


def _verdict(verdict) -> dict:
    ratio = verdict.bound_ratio if math.isfinite(verdict.bound_ratio) else None
    return {
        "passed": verdict.passed,
        "bound_ratio": ratio,  # None: the build crashed on the file or refused it (note)
        "top1": verdict.top1,
        "stage": verdict.stage,
        "note": verdict.note,
        "message": verdict.message,
    }


# ---------------------------------------------------------------- sentences


def found_sentence(
    chosen: Candidate, written: Path | None, size: int | None, fp32_bytes: int
) -> str:
    size = chosen.size_bytes if size is None else size
    share = size / fp32_bytes
    where = (
        f"repaired file written: {written} (verify it before shipping)"
        if written is not None
        else "no file written"
    )
    return (
        f"repaired recipe: {chosen.recipe.text} ({size / 1e6:.2f} MB, "
        f"{share:.0%} of fp32; it passes every runtime of the run); {where}"
    )


def table_lines(result: RepairResult, runtimes: tuple[str, ...], fp32_bytes: int) -> list[str]:
    """One row per candidate tried: size, each target's worst headroom and top-1 agreement
    (and where a failing one first departs), the verdict and the recipe."""
    cells = [[_cell(candidate, runtime) for runtime in runtimes] for candidate in result.tried]
    widths = [
        max(28, len(runtime), *(len(row[column]) for row in cells))
        for column, runtime in enumerate(runtimes)
    ]
    header = f"  {'#':>2}  {'size':>12}  " + "  ".join(
        f"{r:<{w}}" for r, w in zip(runtimes, widths, strict=True)
    )
    lines = [
        f"candidates tried, smallest first (fp32 file: {fp32_bytes / 1e6:.2f} MB; headroom: "
        "the share of verify's bound the worst check left unused):",
        header + "  verdict  recipe",
    ]
    for number, (candidate, row) in enumerate(zip(result.tried, cells, strict=True), 1):
        size = f"{candidate.size_bytes / 1e6:.2f} MB {candidate.size_bytes / fp32_bytes:.0%}"
        verdict = "PASS" if candidate.passed else "FAIL"
        lines.append(
            f"  {number:>2}  {size:>12}  "
            + "  ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=True))
            + f"  {verdict:<7}  {candidate.recipe.text}"
        )
    if not result.tried:
        lines.append("  (none: the budget ran out before the first candidate was judged)")
    if result.left:
        why = "no time left" if result.out_of_time else "none smaller than the chosen one"
        lines.append(f"  {len(result.left)} more candidates not judged ({why})")
    return lines


def _cell(candidate: Candidate, runtime: str) -> str:
    verdict = next((v for v in candidate.verdicts if v.runtime == runtime), None)
    if verdict is None:
        return "not judged (failed elsewhere)"
    if verdict.note:  # the build crashed on the file or refused it
        return verdict.note
    text = f"headroom {verdict.headroom}"
    if verdict.top1 is not None:
        text += f", top-1 {verdict.top1:.0%}"
    if verdict.stage:
        text += f", at {verdict.stage}"
    return text


def nothing_passed(result: RepairResult, budget: float) -> str:
    """The plain sentence when no candidate passed, naming the best one."""
    best = result.best
    if best is None:
        first = result.left[0].text if result.left else "none"
        return (
            f"NOTHING PASSED: the {budget:g} s budget ran out before any candidate was "
            f"judged (the first would have been: {first}); give repair a larger --budget."
        )
    cause = f"within the {budget:g} s budget" if result.out_of_time else "among the candidates"
    return (
        f"NOTHING PASSED {cause}: no file was written; the best candidate was "
        f"{best.recipe.text} ({best.size_bytes / 1e6:.2f} MB, worst error "
        f"{best.worst_ratio:.3g}x verify's bound)."
    )


# ---------------------------------------------------------------- views


@dataclass(frozen=True)
class FixEntry:
    """One failing target's fix as the views show it."""

    target: Target
    sentence: str  # "repaired recipe: not searched", or what the search found
    command: str
    table: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """For the terminal: the sentence and the command, then the candidates table."""
        head = f"{self.target}: {self.sentence}; repair command: {self.command}"
        return [head, *(f"  {line}" for line in self.table)]


def fix_entries(report: Report) -> list[FixEntry]:
    """Every row's fix, in the tables' order; a row searched for with others (the same
    seq_len and precision on several runtimes) shows its table once."""
    entries, shown = [], set()
    for row in sorted_rows(report):
        repair = row.repair if isinstance(row.repair, dict) else None
        if not repair or not isinstance(repair.get("command"), str):
            continue
        status = repair.get("status") or NOT_SEARCHED
        if status == NOT_SEARCHED:
            sentence = f"repaired recipe: {NOT_SEARCHED}"
        else:
            sentence = str(repair.get("sentence") or status)
        table = repair.get("table") if isinstance(repair.get("table"), list) else []
        key = (repair["command"], status)
        lines = () if key in shown else tuple(str(line) for line in table)
        entries.append(FixEntry(row.target, sentence, repair["command"], lines))
        shown.add(key)
    return entries

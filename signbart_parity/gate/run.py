"""One gate run in this pytest process: validated options, the loaded model, every gate
test's outcome, and the report.

Outcomes are logged from pytest's own test reports in the process that writes the report
(the only process, or the xdist controller, which sees every worker's reports), so the
report's verdict is exactly pytest's: a failed or errored gate test fails it, whether or not
the test recorded numbers. Rows of numbers come from this process's ``GateSession`` and,
under xdist, from each worker's ``workeroutput``. Latency is measured after the last test,
as an explicit step, in the process that writes the report.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from signbart_parity.checks.provenance import baseline_provenance as judge
from signbart_parity.export.exporter import Exporter
from signbart_parity.gate.corpus import log_statuses, report_summary
from signbart_parity.gate.options import (
    gate_requested,
    item_target,
    refuse_previous_names,
    run_gate_only,
)
from signbart_parity.gate.profiles import choose, chosen
from signbart_parity.gate.shard import run_identity
from signbart_parity.gate.state import GateRun, get_run, is_worker, start
from signbart_parity.interrupts import take_pending, terminate_as_interrupt_until_restored
from signbart_parity.model.fingerprint import weights_fingerprint
from signbart_parity.options import OPTIONS
from signbart_parity.quiet import GATE_WARNING_FILTERS, toolchain_noise_dropped
from signbart_parity.reports.corpus import corpus_headline
from signbart_parity.reports.model import Outcome, Report, Row, first_line, new_report
from signbart_parity.reports.repair import RepairPlan, fix_entries, name_fixes, repair_failing
from signbart_parity.reports.text import (
    compatibility_findings,
    failure_lines,
    gpu_lines,
    headline_with_run,
    not_checked_lines,
    outside_lines,
    row_lines,
)
from signbart_parity.reports.write import write_report
from signbart_parity.runtime.run.tflite import TFLiteModel
from signbart_parity.runtime.run.timing import measure, timing_input
from signbart_parity.shards import shard_text
from signbart_parity.targets import Target

if TYPE_CHECKING:
    pass

WORKER_OUTPUT_KEY = "signbart_parity"
TIMING_ITERATIONS = 30
# user_properties every gate test carries from collection on: they reach the controller
# with each report, and the JUnit XML.
CHECK_PROPERTY, TARGET_PROPERTY = "parity_check", "parity_target"


def configure(config: pytest.Config) -> None:
    if config.option.help or config.option.version:
        return
    refuse_previous_names(config)
    run_gate_only(config)
    if gate_requested(config):
        # A CI cancel (SIGTERM) ends the run as Ctrl-C does, so its report says FAIL (run
        # incomplete) instead of the process dying and leaving the previous run's PASS.
        config.add_cleanup(terminate_as_interrupt_until_restored())
        try:
            choose(config)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        start(config)


def label_items(items: list[pytest.Item]) -> bool:
    """Tag gate tests with their check and target (see CHECK_PROPERTY) and the toolchain's
    warning filters (the gate's own, whatever project runs it); True if any."""
    found = False
    for item in items:
        marker = item.get_closest_marker("parity")
        if "parity_session" not in getattr(item, "fixturenames", ()) or marker is None:
            continue
        found = True
        for spec in GATE_WARNING_FILTERS:
            item.add_marker(pytest.mark.filterwarnings(spec))
        item.user_properties.append((CHECK_PROPERTY, marker.args[0] if marker.args else ""))
        target = item_target(item)
        if target is not None:
            item.user_properties.append((TARGET_PROPERTY, target.id))
    return found


# ---------------------------------------------------------------- outcomes


def log_report(config: pytest.Config, report: pytest.TestReport) -> None:
    """Fold one phase (setup, call, teardown) of a gate test into its outcome."""
    properties = dict(report.user_properties)
    if CHECK_PROPERTY not in properties:
        return

    log_statuses(get_run(config).corpus, report.user_properties)
    outcomes = get_run(config).outcomes
    current = outcomes.get(report.nodeid)
    if current is None:
        target = properties.get(TARGET_PROPERTY)
        current = Outcome(
            report.nodeid,
            "passed",
            check=properties[CHECK_PROPERTY] or None,
            target=Target.from_id(target) if target else None,
        )
        outcomes[report.nodeid] = current
    if report.skipped:
        current.outcome, current.message = "skipped", _skip_reason(report)
    elif report.failed:
        failed_in_call = report.when == "call" and current.outcome != "error"
        current.outcome = "failed" if failed_in_call else "error"
        current.message = current.message or _failure_line(report)


def log_collection_error(config: pytest.Config, report: pytest.CollectReport) -> None:
    if report.failed and config.getoption("parity_report", None) is not None:
        get_run(config).outcomes[report.nodeid or "<collection>"] = Outcome(
            report.nodeid or "<collection>", "error", message=_failure_line(report)
        )


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr
    return first_line(str(reason).removeprefix("Skipped: "))


def _failure_line(report) -> str:
    """The first line of the failure that says what went wrong (not code or traceback)."""
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None and crash.message:
        return first_line(crash.message)
    return first_line(report.longreprtext or report.outcome)


# ---------------------------------------------------------------- xdist


def worker_payload(run: GateRun) -> dict:
    session = run.session
    if session is None:
        return {"rows": [], "built_keys": [], "hit_keys": []}
    return {
        "rows": [row.to_dict() for row in session.rows()],
        "built_keys": sorted(session.cache.stats.built_keys),
        "hit_keys": sorted(session.cache.stats.hit_keys),
    }


def collect_worker(config: pytest.Config, node, error) -> None:
    """The controller receives one worker's rows when it goes down."""
    run = get_run(config)
    payload = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if payload is None:
        run.lost_workers.append(str(getattr(node, "gateway", node)))
        return
    run.worker_rows += [Row.from_dict(row) for row in payload["rows"]]
    run.built_keys.update(payload["built_keys"])
    run.hit_keys.update(payload["hit_keys"])
    if error:
        run.lost_workers.append(str(error))


# ---------------------------------------------------------------- the report


def finish(session: pytest.Session, exitstatus: int) -> Report | None:
    """Hand rows to the controller (xdist worker), or build the report whenever gate tests
    ran (the terminal summary says what it found) and write it with --parity-report."""
    config = session.config
    run = get_run(config)
    if is_worker(config):
        config.workeroutput[WORKER_OUTPUT_KEY] = worker_payload(run)
        return None
    report_dir = config.getoption("parity_report", None)
    if report_dir is None and not run.outcomes:
        return None
    if take_pending():  # SIGTERM arrived where its exception was swallowed
        exitstatus = pytest.ExitCode.INTERRUPTED
    with toolchain_noise_dropped():  # loading the model, timing files: outside any test
        timed = report_dir is not None and exitstatus != pytest.ExitCode.INTERRUPTED
        report = build_report(run, session, exitstatus, timed=timed)
    if run.options.repair_dir is not None and exitstatus != pytest.ExitCode.INTERRUPTED:
        with toolchain_noise_dropped():
            repair_failures(run, report, session.config)
        report.duration_s = round(time.perf_counter() - run.started, 2)
    run.report = report
    if report_dir is not None:
        run.html = str(write_report(report, report_dir)["parity.html"])
    if not report.passed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # the exit code follows the report
    return report


def summary_lines(config: pytest.Config) -> list[str]:
    """For the terminal: the verdict, each configuration's numbers and headroom, what
    failed, what was not checked, and where the report is."""
    run = get_run(config)
    report = run.report
    if report is None:
        return [corpus_headline(_corpus(config))] if run.corpus else []
    lines = [f"SignBart parity report: {headline_with_run(report)}"]
    found = row_lines(report) + compatibility_findings(report) + failure_lines(report)
    found += not_checked_lines(report) + gpu_lines(report) + outside_lines(report)
    found += [line for fix in fix_entries(report) for line in fix.lines()]
    if report.corpus is not None:
        found.append(corpus_headline(report.corpus))
    lines += [f"  {line}" for line in found]
    where = f"report: {run.html}" if run.html else "no report written (add --parity-report DIR)"
    return lines + [f"  {where}"]


def _corpus(config: pytest.Config) -> dict:

    return report_summary(config)


def build_report(
    run: GateRun, session: pytest.Session, exitstatus: int, *, timed: bool = True
) -> Report:
    options = start(session.config).options  # already started unless only workers ran
    rows: dict[Target, Row] = {}
    local = run.session.rows() if run.session is not None else []
    for row in [*local, *run.worker_rows]:
        rows[row.target] = rows[row.target].combine(row) if row.target in rows else row
    built, hit = set(run.built_keys), set(run.hit_keys)
    if run.session is not None:
        built |= run.session.cache.stats.built_keys
        hit |= run.session.cache.stats.hit_keys
    report = new_report(
        "gate",
        checkpoint=options.checkpoint,
        layout=run.loaded.layout,
        config_path=options.config,
        config_values=run.loaded.config.to_dict(),
        quantizations=options.quantizations,
        rows=[rows[target] for target in sorted(rows)],
        outcomes=list(run.outcomes.values()),
        incomplete=_incomplete(run, session, exitstatus),
        conversions=len(built),
        cache_hits=len(hit - built),  # a file one worker built and another found: built
    )
    _identify(report, run, session.config)
    name_fixes(report, repair_plan(options, session.config))
    found = baseline_provenance(run)
    if found is not None:
        report.provenance = {"baseline": found.to_dict()}
    report.corpus = _corpus(session.config)
    if timed:
        measure_latency(run, report)
    report.duration_s = round(time.perf_counter() - run.started, 2)
    return report


def repair_failures(run: GateRun, report: Report, config: pytest.Config) -> None:
    """--parity-repair: repair's search for each failing quantized target, after the
    checks, with the checkpoint's own model and the run's export cache; progress on the
    terminal."""
    from signbart_parity.export.cache import ExportCache  # filelock

    options = run.options
    exporter = Exporter(run.loaded.model, cache=ExportCache(options.cache_dir))
    repair_failing(
        report,
        repair_plan(options, config),
        run.loaded.model,
        exporter=exporter,
        budget=options.budget,
        examples=OPTIONS["examples"].default,
        seed=OPTIONS["seed"].default,
        progress=_terminal_progress(config),
    )


def _terminal_progress(config: pytest.Config):
    """Lines on pytest's terminal (stderr when it has none): a search takes minutes."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return lambda line: print(f"signbart-parity {line}", file=sys.stderr, flush=True)
    return lambda line: reporter.write_line(f"signbart-parity {line}")


def repair_plan(options, config: pytest.Config) -> RepairPlan:
    """What a failing quantized target's fix names: the run's runtimes, how it judged, and
    where repaired files go (--parity-repair's folder, else the report's, else here)."""
    folder = options.repair_dir or config.getoption("parity_report", None) or Path(".")
    return RepairPlan(
        config=options.config,
        checkpoint=options.checkpoint,
        runtimes=options.runtimes,
        judge_outside=options.judge_outside,
        folder=Path(folder),
        seq_lens=options.seq_lens if options.bundle else None,
    )


def _identify(report: Report, run: GateRun, config: pytest.Config) -> None:
    """The run's identity and, with --parity-shard, which shard this report is."""
    report.run = run_identity(run, chosen(config))
    report.shard = shard_text(run.options.shard) if run.options.shard else None


def baseline_provenance(run: GateRun):
    """The stamp of ``--parity-baseline`` against the checkpoint under test, shown in the
    header and the report, never judged: a shipped file is older by definition."""
    if run.options is None or run.options.baseline is None:
        return None
    if run.baseline_provenance is None:
        weights = weights_fingerprint(run.loaded.model)
        run.baseline_provenance = judge(run.options.baseline, weights)
    return run.baseline_provenance


def baseline_header(config: pytest.Config) -> str | None:
    """The header line naming the shipped file's provenance (when the gate has one)."""
    found = baseline_provenance(get_run(config))
    return f"signbart-parity: --parity-baseline {found.line}" if found else None


def _incomplete(run: GateRun, session: pytest.Session, exitstatus: int) -> str | None:
    reasons = {
        pytest.ExitCode.INTERRUPTED: "interrupted",
        pytest.ExitCode.INTERNAL_ERROR: "internal error",
        pytest.ExitCode.USAGE_ERROR: "usage error",
        pytest.ExitCode.NO_TESTS_COLLECTED: "no gate test was collected",
    }
    found = [reasons[exitstatus]] if exitstatus in reasons else []
    if session.shouldstop:
        found.append(f"stopped early ({session.shouldstop})")
    found += [f"lost xdist worker: {worker}" for worker in run.lost_workers]
    return "; ".join(found) or None


def measure_latency(run: GateRun, report: Report) -> None:
    """The explicit timing step: median latency of every exported file, and of PyTorch
    eager at each seq_len, measured after the last test in this one process."""
    started = time.perf_counter()
    if not any(row.file for row in report.rows):
        return
    model, config = run.loaded.model, run.loaded.config
    unmeasured = []
    for row in report.rows:
        if row.file:
            try:
                row.latency_ms = round(_tflite_latency(row, config), 3)
            except Exception as exc:  # latency is information, not a check: keep the report
                unmeasured.append(f"{row.target}: {first_line(str(exc))}")
    report.torch_latency_ms = {
        str(seq_len): round(_torch_latency(model, config, seq_len), 3)
        for seq_len in sorted({row.target.seq_len for row in report.rows if row.file})
    }
    report.timing = {
        "iterations": TIMING_ITERATIONS,
        "seconds": round(time.perf_counter() - started, 2),
        "note": (
            f"Latency: median of {TIMING_ITERATIONS} calls (batch 1, one real-like input, "
            "default threads), measured after the last test in the process that wrote this "
            "report, never while tests ran."
            + "".join(f" Not measured ({reason})." for reason in unmeasured)
        ),
    }


def _tflite_latency(row: Row, config) -> float:
    keypoints, masks = timing_input(config, row.target.seq_len)
    tflite = TFLiteModel(row.file, runtime=row.target.runtime, signature=row.signature)
    return tflite.latency(keypoints, masks, TIMING_ITERATIONS)[0]


def _torch_latency(model, config, seq_len: int) -> float:
    import torch

    keypoints, masks = timing_input(config, seq_len)
    inputs = torch.from_numpy(keypoints), torch.from_numpy(masks)
    with torch.inference_mode():
        return measure(lambda: model(*inputs), TIMING_ITERATIONS)[0]

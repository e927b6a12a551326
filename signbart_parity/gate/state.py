"""The state of one gate run in this pytest process (kept in ``config.stash``) and its
start: the validated options and the checkpoint under test, loaded once."""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from signbart_parity.errors import ParityInputError
from signbart_parity.gate.options import GateOptions, resolve_options
from signbart_parity.model.checkpoint import load_model
from signbart_parity.quiet import toolchain_noise_dropped
from signbart_parity.reports.model import Outcome, Report, Row

if TYPE_CHECKING:
    from signbart_parity.model.checkpoint import LoadedModel

_RUN = pytest.StashKey["GateRun"]()


@dataclass
class GateRun:
    options: GateOptions | None = None
    loaded: LoadedModel | None = None  # the checkpoint under test
    session: object | None = None  # the GateSession, once a gate test asked for it
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    worker_rows: list[Row] = field(default_factory=list)
    # Cache entries xdist workers built and found (each file counts once across workers).
    built_keys: set[str] = field(default_factory=set)
    hit_keys: set[str] = field(default_factory=set)
    lost_workers: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    report: Report | None = None  # built at the end whenever gate tests ran
    html: str | None = None  # where parity.html went (with --parity-report)
    baseline_provenance: object | None = None  # checks.provenance.ProvenanceFinding
    corpus: dict[str, str] = field(default_factory=dict)  # counterexample file -> status


def get_run(config: pytest.Config) -> GateRun:
    if _RUN not in config.stash:
        config.stash[_RUN] = GateRun()
    return config.stash[_RUN]


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


# ---------------------------------------------------------------- start-up


def start(config: pytest.Config) -> GateRun:
    """Validate the options and load the model once; bad input is one ``pytest.UsageError``."""
    run = get_run(config)
    if run.options is None:
        options = resolve_options(config)
        with toolchain_noise_dropped(), _long_lived_objects():  # importing torch
            run.loaded = load_gate_model(options)
        run.options = options
    return run


@contextmanager
def _long_lived_objects():
    """torch and the model live as long as the run: no garbage collection while they load,
    and none of Python's full collections scans them afterwards (a warm default gate spent
    1.06 s of about 6.5 s in collections)."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def start_for_collection(config: pytest.Config) -> GateRun:
    """``start`` when the gate is first collected without any gate option named: a bad
    default is then one collection error, not a traceback per test."""
    try:
        return start(config)
    except pytest.UsageError as exc:
        raise pytest.Collector.CollectError(str(exc)) from None


def load_gate_model(options: GateOptions):
    """The checkpoint under test (``checkpoint.LoadedModel``); a mismatch, an unreadable
    file or non-finite weights are one usage error."""
    try:
        return load_model(options.config, options.checkpoint)
    except ParityInputError as exc:
        raise pytest.UsageError(
            f"--parity-checkpoint {options.checkpoint} with --parity-config {options.config}: {exc}"
        ) from None

"""``--parity-shard K/N`` in the gate: which collected gate tests this job runs, and the
identity of the run its report carries so that ``report merge`` can tell its shards apart
from another run's.

Tests are parametrised over the whole matrix in every job (so node ids are the ones a
single run has) and the other shards' tests are deselected. A test runs in the shard that
runs its target (``shards.plan``); a bucket pair in the shard of its longer target (the row
it records on); the checks with no target (the skipped placeholders "one seq_len", "no
pinned build", "no baseline given") in shard 1 only. So the N reports hold every outcome of
a single run exactly once.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import pytest

from signbart_parity import __version__
from signbart_parity.fileio import file_sha256
from signbart_parity.gate.options import item_target
from signbart_parity.gate.state import GateRun, start
from signbart_parity.model.fingerprint import weights_fingerprint
from signbart_parity.targets import precision_label

if TYPE_CHECKING:
    from signbart_parity.gate.options import GateOptions

SHARED_CHECKS_SHARD = 1  # the shard that runs the checks with no target of their own


def keep_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the gate tests of the other shards (nothing when no shard is asked for)."""
    if config.getoption("parity_shard", None) is None:
        return
    options = start(config).options
    mine = set(options.shard_targets())
    shared = options.shard[0] == SHARED_CHECKS_SHARD
    kept, dropped = [], []
    for item in items:
        if not _is_gate_test(item):
            kept.append(item)
            continue
        target = item_target(item)
        ours = shared if target is None else target in mine
        (kept if ours else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _is_gate_test(item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return "parity_session" in fixtures and item.get_closest_marker("parity") is not None


def run_identity(run: GateRun, profile: str | None) -> dict:
    """What makes two reports parts of one run: the checkpoint's weights, the config, the
    options that choose what is checked and how, and this tool's version. Paths and
    machine-local folders (cache, corpus, report) are not part of it."""
    options: GateOptions = run.options
    config_text = json.dumps(run.loaded.config.to_dict(), sort_keys=True, default=str)
    return {
        "weights": weights_fingerprint(run.loaded.model),
        "config": hashlib.sha256(config_text.encode()).hexdigest(),
        "options": {
            "seq_lens": list(options.seq_lens),
            "precisions": [precision_label(q) for q in options.quantizations],
            "runtimes": list(options.runtimes),
            "bundle": options.bundle,
            "profile": profile,
            "samples": sorted(file_sha256(path) for path in options.samples),
            "baseline": file_sha256(options.baseline) if options.baseline else None,
            "max_flip_rate": options.max_flip_rate,
            "judge_outside": options.judge_outside,
        },
        "tool": __version__,
    }

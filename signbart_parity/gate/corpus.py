"""The gate's side of the counterexample corpus (``checks/corpus.py``): replaying stored
counterexamples first, saving the ones this run finds, and what the report says of them.

A status travels as a ``parity_corpus`` user property of the test that produced it, so the
process that writes the report (the xdist controller too) sees every worker's.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from signbart_parity.checks import corpus
from signbart_parity.checks.golden import failing_rows
from signbart_parity.gate.state import start
from signbart_parity.reports.checks import record
from signbart_parity.targets import Target

CORPUS_PROPERTY = "parity_corpus"
REPLAY_CHECK = "corpus"  # the parity marker of the replay test


def _fits(model_config, options) -> dict:
    """What a stored counterexample must match to be replayed in this run."""
    return {
        "num_keypoints": model_config.min_input_keypoints,
        "num_labels": model_config.num_labels,
        "targets": options.targets,
    }


def status_property(path, status: str) -> tuple[str, str]:
    return CORPUS_PROPERTY, json.dumps({"file": path.name, "status": status})


# ---------------------------------------------------------------- in the tests


def replay_stored(session, target: Target) -> tuple[list[tuple[str, str]], list[str]]:
    """Replay this target's stored counterexamples on the current checkpoint; returns the
    status properties and one line per counterexample that still fails."""
    stored = corpus.replayable(
        session.options.corpus_dir, **_fits(session.config, session.options)
    ).get(target, [])
    properties, failing = [], []
    for item in stored:
        result = corpus.replay(
            item, session.model, session.tflite(target), judge_outside=session.options.judge_outside
        )
        record(session.row(target), dataclasses.replace(result, name=REPLAY_CHECK))
        status = corpus.PASSES_NOW if result.passed else corpus.STILL_FAILS
        properties.append(status_property(item.path, status))
        if not result.passed:
            rows = "; ".join(failing_rows(result)) or result.comparison.message()
            failing.append(f"{item.path} ({item.check}): {rows}")
    return properties, failing


def save_found(
    session, target: Target, check: str, keypoints, masks, descriptions
) -> list[tuple[str, str]]:
    """Save a shrunk failing example to the corpus; the status property when it is new."""
    path, new = corpus.save_counterexample(
        session.options.corpus_dir,
        model=session.model,
        config=session.config,
        config_path=session.options.config,
        checkpoint_path=session.options.checkpoint,
        target=target,
        check=check,
        keypoints=np.concatenate(keypoints),
        masks=np.concatenate(masks),
        descriptions=[f"{check} counterexample on {target}: {text}" for text in descriptions],
    )
    return [status_property(path, corpus.NEW)] if new else []


# ---------------------------------------------------------------- collection


def deselect_empty_replays(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Replay tests of targets with nothing stored are deselected (they check nothing, so
    they must not count as passed checks); the report still lists the corpus."""
    replays = [item for item in items if _is_replay(item)]
    if not replays:
        return

    run = start(config)
    stored = corpus.replayable(run.options.corpus_dir, **_fits(run.loaded.config, run.options))
    empty = {item for item in replays if item.callspec.params.get("parity_target") not in stored}
    if empty:
        config.hook.pytest_deselected(items=[item for item in items if item in empty])
        items[:] = [item for item in items if item not in empty]


def _is_replay(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("parity")
    return bool(marker and marker.args and marker.args[0] == REPLAY_CHECK)


# ---------------------------------------------------------------- the report


def log_statuses(statuses: dict[str, str], user_properties) -> None:
    """Fold a test report's corpus statuses in (a still-failing one is never overwritten)."""
    for key, value in user_properties:
        if key != CORPUS_PROPERTY:
            continue
        found = json.loads(value)
        if statuses.get(found["file"]) != corpus.STILL_FAILS:
            statuses[found["file"]] = found["status"]


def report_summary(config: pytest.Config) -> dict:
    """The corpus as the report lists it (see ``checks.corpus.summary``)."""
    run = start(config)  # the xdist controller may not have loaded the model yet
    return corpus.summary(
        run.options.corpus_dir, run.corpus, **_fits(run.loaded.config, run.options)
    )

"""The check table: each name is one measurement at both doors.

The gate's checks (their subject built as ``gate/test_gate.py`` builds it, from a real
``GateSession`` whose export is the cached file) and ``verify`` (the command, on that file)
run on the same fixed batch and give equal values for every check of the table verify ran.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from signbart_parity.checks.table import CHECKS, Batch, run_check
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.inputs.generators import example_batch, keypoint_kinds_for
from signbart_parity.reports.row import tally_of
from signbart_parity.targets import Target
from tests.cli import run_cli
from tests.tflite_files import CHECKPOINT, CONFIG, MODEL_ARGS, fixture_model, scratch

EXAMPLES, SEED = 24, 0


def _gate_session():
    from signbart_parity.gate.options import GateOptions
    from signbart_parity.gate.session import GateSession

    model, config = fixture_model()
    options = GateOptions(
        config=CONFIG,
        checkpoint=CHECKPOINT,
        seq_lens=(16,),
        quantizations=("none",),
        runtimes=("litert",),
        cache_dir=scratch() / "exports",  # the tests' shared export cache
        samples=(),
    )
    return GateSession(options, model, config)


def _fixed_inputs(session, target: Target) -> dict[str, Batch]:
    """What verify feeds each check with --examples EXAMPLES --seed SEED."""
    from signbart_parity.checks.verify import bucket_inputs
    from signbart_parity.inputs.masks import BUCKET_MASK_KINDS

    kinds = keypoint_kinds_for(tolerance_for(target.quantization))
    width = session.config.min_input_keypoints
    batch = Batch(
        *example_batch(
            np.random.default_rng(SEED),
            count=EXAMPLES,
            seq_len=target.seq_len,
            num_keypoints=width,
            keypoint_kinds=kinds,
        )
    )
    short = Batch(
        *bucket_inputs(
            np.random.default_rng(SEED + 2),
            count=max(len(BUCKET_MASK_KINDS), EXAMPLES // 3),
            seq_len=target.seq_len // 2,
            num_keypoints=width,
            keypoint_kinds=kinds,
        )
    )
    return dict.fromkeys(("parity", "agreement", "padding", "determinism"), batch) | {
        "short-clip": short
    }


@pytest.mark.slow
def test_the_gate_and_verify_give_equal_values_for_every_check_on_the_same_batch(tmp_path):
    from signbart_parity.gate.test_gate import _subject

    session = _gate_session()
    target = Target(16, "none", "litert")
    path = session.tflite(target).path  # the gate's export: the cached file
    done = run_cli(
        "verify", *MODEL_ARGS, "--tflite", path, "--examples", str(EXAMPLES),
        "--seed", str(SEED), "--report", tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = json.loads((tmp_path / "parity.json").read_text())["results"]
    inputs = _fixed_inputs(session, target)
    assert set(row["checks"]) == set(inputs) <= set(CHECKS)
    for name, batch in inputs.items():
        subject = _subject(session, target, seed=SEED + 1)  # verify's padding seed
        result = run_check(name, subject, batch)
        assert tally_of(result.comparison) == row["checks"][name], name
        outside = tally_of(result.outside) if result.outside is not None else None
        assert outside == row["outside"].get(name), name

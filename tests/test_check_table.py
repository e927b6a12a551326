"""The check table: each name is one measurement at both doors.

The gate's checks (their subject built as ``gate/test_gate.py`` builds it, from a real
``GateSession`` whose export is the cached file) and ``verify`` (the command, on that file)
run on the same fixed batch and give equal values for every check of the table verify ran.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from signbart_parity.checks.table import (
    CHECKS,
    EXACT_MATCH,
    FULL_RULE,
    Batch,
    Ran,
    judge,
    run_check,
)
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.inputs.generators import example_batch, keypoint_kinds_for
from signbart_parity.reports.row import tally_of
from signbart_parity.targets import Target
from tests.cli import run_cli
from tests.tflite_files import CHECKPOINT, CONFIG, MODEL_ARGS, cache_root, fixture_model

EXAMPLES, SEED = 24, 0


def _gate_session(export_model=None, corpus_dir=None):
    from signbart_parity.gate.options import GateOptions
    from signbart_parity.gate.session import GateSession

    model, config = fixture_model()
    options = GateOptions(
        config=CONFIG,
        checkpoint=CHECKPOINT,
        seq_lens=(16,),
        quantizations=("none",),
        runtimes=("litert",),
        cache_dir=cache_root(),  # the tests' shared export cache
        samples=(),
        corpus_dir=corpus_dir,
    )
    return GateSession(options, model, config, export_model=export_model)


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


def test_a_check_result_is_as_true_as_its_verdict():
    """The gate tests ``if not result``: a failing check must be false, or it never fails."""
    reference = np.array([[3.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
    batch = Batch(np.zeros((2, 4, 1, 2)), np.ones((2, 4)))
    same = judge(CHECKS["parity"], Ran(reference, reference.copy(), batch), "none")
    off = judge(CHECKS["parity"], Ran(reference, reference[:, ::-1].copy(), batch), "none")
    assert same.passed and bool(same)
    assert not off.passed and not bool(off)


def test_examples_outside_the_app_contract_are_shown_apart_and_judged_only_when_asked():
    """An all-zero mask (no valid frame) departing from PyTorch does not decide the verdict:
    its numbers are kept apart; --judge-outside-contract makes it count like any other."""
    reference = np.array([[3.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
    candidate = reference.copy()
    candidate[1] = [0.0, 2.0, 1.0]  # the all-zero example departs, and flips
    batch = Batch(np.zeros((2, 4, 1, 2)), np.array([[1, 1, 0, 0], [0, 0, 0, 0]]))
    ran = Ran(reference, candidate, batch)
    result = judge(CHECKS["parity"], ran, "none")
    assert result.passed and result.comparison.examples == 1
    assert result.outside.examples == 1 and not result.outside.passed
    assert result.outside_inputs.masks.sum() == 0
    judged_all = judge(CHECKS["parity"], ran, "none", judge_outside=True)
    assert not judged_all.passed and judged_all.comparison.examples == 2
    assert judged_all.outside is None


@pytest.mark.parametrize("name", [n for n, spec in CHECKS.items() if spec.judged != EXACT_MATCH])
def test_a_check_is_judged_by_the_bound_of_the_runtime_that_ran_it(name):
    """The GPU lane's fp16 widening (``tolerance_for(precision, runtime)``) holds through
    the table: logits 0.01 apart fail fp32's bound on the CPU and pass on compiled@gpu."""
    spec = CHECKS[name]
    assert spec.tolerance("none", "compiled@gpu") == _mode(spec, "compiled@gpu")
    assert spec.tolerance("none", "litert") == _mode(spec, "litert")
    reference = np.array([[3.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
    ran = Ran(reference, reference + 0.01, Batch(np.zeros((2, 4, 1, 2)), np.ones((2, 4))))
    assert not judge(spec, ran, "none", runtime="litert")
    assert judge(spec, ran, "none", runtime="compiled@gpu")
    assert not judge(spec, ran, "none", runtime="compiled@gpu:fp32")  # fp32 enforced


def _mode(spec, runtime: str):
    tolerance = tolerance_for("none", runtime)
    return tolerance if spec.judged == FULL_RULE else tolerance.per_example()


@pytest.mark.slow
def test_the_gates_parity_test_fails_on_the_mask_ignored_conversion(tmp_path):
    """The gate's own parity test body, on examples it draws, fails a file converted from
    a model whose encoder ignores the mask (what the gate self-test shows in a subprocess)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from signbart_parity.checks.faults import broken_model
    from signbart_parity.checks.reference import float64_oracle
    from signbart_parity.gate.session import CaseRecorder
    from signbart_parity.gate.test_gate import test_logits_match_pytorch

    model = fixture_model()[0]
    session = _gate_session(broken_model(model, "mask-ignored-in-encoder"), tmp_path)
    target, recorder = Target(16, "none", "litert"), CaseRecorder(session)
    oracle = float64_oracle(model)
    body = test_logits_match_pytorch.hypothesis.inner_test
    settings_ = settings(max_examples=25, derandomize=True, database=None, deadline=None)

    @settings_
    @given(data=st.data())
    def gate_parity(data):
        body(session, target, recorder, oracle, data)

    with pytest.raises(pytest.fail.Exception, match="PARITY VIOLATED"):
        gate_parity()
    # Decided by drawn examples inside the app contract, not by the all-zero mask.
    failed = [c for c in recorder.recorded if not c.passed]
    assert failed and all(c.examples == 1 for c in failed)

"""Checks a shipped .tflite must pass, against the PyTorch checkpoint: the release gate.

Each test is one check (its ``parity`` marker names it); those judged on examples are the
check table's (``checks/table.py``), run and judged as ``verify`` does, on the examples
hypothesis draws (agreement: on the fixed batch). Each is parametrised over the exported
seq_lens, precisions and runtimes (``--parity-seq-lens``, ``--parity-quantization``,
``--parity-runtime``). Inputs come from ``signbart_parity.inputs.strategies``; example counts from
the gate's hypothesis profile (``--parity-profile``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from signbart_parity import strategies
from signbart_parity.checks import properties
from signbart_parity.checks.baseline import compare_files
from signbart_parity.checks.divergence import divergence_line
from signbart_parity.checks.reference import float64_oracle, oracle_errors, torch_logits
from signbart_parity.checks.table import CHECKS, Batch, CheckResult, Subject, judge, run_check
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.gate.corpus import replay_stored
from signbart_parity.gate.profiles import gate_settings
from signbart_parity.inputs.generators import example_batch, keypoint_kinds_for
from signbart_parity.inputs.masks import BUCKET_MASK_KINDS
from signbart_parity.inputs.samples import preprocessed_samples
from signbart_parity.options import OPTIONS
from signbart_parity.runtime.run.tflite import TFLiteModel

# The fixed batch for the agreement rate: every keypoint kind x mask kind, twice; the
# same count verify checks a file on.
AGREEMENT_EXAMPLES = OPTIONS["examples"].default
AGREEMENT_SEED = 0


def _fail(message: str) -> None:
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


def _draw(data, session, target, *, seq_len: int | None = None, **kinds):
    """One example for ``target``, from the keypoint kinds its precision is judged on."""
    example = data.draw(
        strategies.model_inputs(
            seq_len=seq_len or target.seq_len,
            num_keypoints=session.config.min_input_keypoints,
            keypoint_kinds=keypoint_kinds_for(tolerance_for(target.quantization, target.runtime)),
            **kinds,
        )
    )
    note(f"mask: {example}")
    return example


@pytest.fixture(scope="session")
def oracle(parity_session):
    """The checkpoint in float64: the yardstick for both fp32 implementations."""
    return float64_oracle(parity_session.model)


@pytest.mark.parity("corpus")
def test_stored_counterexamples_still_pass(parity_session, parity_target, record_property):
    """First: the counterexamples earlier runs found on this target (--parity-corpus),
    replayed against the current checkpoint. Deselected when none is stored for it."""
    properties, failing = replay_stored(parity_session, parity_target)
    for name, value in properties:
        record_property(name, value)
    if failing:
        _fail(
            f"{len(failing)} of {len(properties)} stored counterexamples still fail "
            f"({parity_target}): " + "\n".join(failing)
        )


def _subject(session, target, **extra) -> Subject:
    """What the gate's checks run on ``target``: its exported file against the checkpoint."""
    return Subject(session.model, session.tflite(target), target.quantization, **extra)


def _outside(session) -> bool:
    return session.options.judge_outside  # --parity-judge-outside-contract


def _run(name: str, subject: Subject, batch: Batch, session) -> CheckResult:
    return run_check(name, subject, batch, judge_outside=_outside(session))


def _one(example) -> Batch:
    return Batch(example.keypoints, example.mask, [repr(example)])  # already a batch of 1


@pytest.mark.parity("parity")
@gate_settings
@given(data=st.data())
def test_logits_match_pytorch(parity_session, parity_target, parity_recorder, oracle, data):
    session, target = parity_session, parity_target
    example = _draw(data, session, target)
    ran = CHECKS["parity"].run(_subject(session, target), _one(example))
    result = judge(
        CHECKS["parity"],
        ran,
        target.quantization,
        runtime=target.runtime,
        judge_outside=_outside(session),
    )
    errors = None
    if target.quantization == "none" and result.comparison.examples:  # fp32, in the contract
        exact = torch_logits(oracle, ran.inputs.keypoints, ran.inputs.masks)
        errors = oracle_errors(ran.reference, ran.candidate, exact)
    parity_recorder.record_result(target, result, oracle=errors)
    if not result:
        where = ""
        if parity_recorder.is_final:  # localise once, on the minimal failing example
            where = divergence_line(
                session.model,
                session.tflite(target),
                example.keypoints,
                example.mask,
                precision=target.quantization,
            )
            parity_recorder.note_divergence(target, where)
            parity_recorder.keep_counterexample(
                target, "parity", [example.keypoints], [example.mask], [repr(example)]
            )
        _fail(result.comparison.message(f"{target}; {example}") + "\n" + where)


@pytest.mark.parity("padding")
@gate_settings
@given(data=st.data())
def test_padding_never_changes_logits(parity_session, parity_target, parity_recorder, data):
    session, target = parity_session, parity_target
    example = _draw(
        data,
        session,
        target,
        mask_kinds=strategies.PADDED_MASK_KINDS,
        require_padding=True,
    )
    seed = data.draw(st.integers(0, 2**32 - 1), label="padding seed")
    result = _run("padding", _subject(session, target, seed=seed), _one(example), session)
    parity_recorder.record_result(target, result)
    if not result:
        if parity_recorder.is_final:  # both inputs: PyTorch gives them the same logits
            parity_recorder.keep_counterexample(
                target,
                "padding",
                [example.keypoints, result.keypoints],
                [example.mask, example.mask],
                [repr(example), f"{example!r}, padded frames scrambled (seed {seed})"],
            )
        _fail(result.comparison.message(f"padded frames changed the logits; {target}; {example}"))


@pytest.mark.parity("determinism")
@gate_settings
@given(data=st.data())
def test_same_input_gives_same_output(parity_session, parity_target, parity_recorder, data):
    session, target = parity_session, parity_target
    example = _draw(data, session, target)
    result = _run("determinism", _subject(session, target), _one(example), session)
    parity_recorder.record_result(target, result)
    if not result:
        _fail(result.comparison.message(f"two runs of one input differ; {target}; {example}"))


@pytest.mark.parity("bucket")
@gate_settings
@given(data=st.data())
def test_bucket_consistency(parity_session, parity_bucket, parity_recorder, data):
    """L frames in a seq_len-T file give the seq_len-L file's logits (and so in PyTorch)."""
    session = parity_session
    short, long = parity_bucket
    example = _draw(
        data,
        session,
        short,
        mask_kinds=BUCKET_MASK_KINDS,
    )
    subject = _subject(session, long, shorter=session.tflite(short))
    in_tflite = _run("bucket", subject, _one(example), session)
    in_torch = properties.bucket_consistency(
        properties.TorchRunner(session.model, long.seq_len),
        properties.TorchRunner(session.model, short.seq_len),
        tolerance_for("none"),
        example.keypoints,
        example.mask,
    )
    parity_recorder.record_result(long, in_tflite)
    for where, result in (("TFLite", in_tflite.comparison), ("PyTorch", in_torch)):
        if not result:
            _fail(
                result.message(
                    f"{where}: {short.seq_len} frames padded to {long.seq_len} differ from the "
                    f"seq_len-{short.seq_len} model; {long.precision}; "
                    f"{example}"
                )
            )


def agreement_batch(session, target) -> Batch:
    """The fixed batch the agreement rate is measured on, the one ``verify`` checks by
    default: every keypoint kind x mask kind, seeded."""
    return Batch(
        *example_batch(
            np.random.default_rng(AGREEMENT_SEED),
            count=AGREEMENT_EXAMPLES,
            seq_len=target.seq_len,
            num_keypoints=session.config.min_input_keypoints,
            keypoint_kinds=keypoint_kinds_for(tolerance_for(target.quantization, target.runtime)),
        )
    )


@pytest.mark.parity("agreement")
def test_top1_agreement_rate(parity_session, parity_target, parity_recorder):
    """Over a fixed batch covering every keypoint x mask kind, top-1 agrees as often as the
    precision's tolerance demands (a rate, so checked on a set, not example by example)."""
    session, target = parity_session, parity_target
    batch = agreement_batch(session, target)
    result = _run("agreement", _subject(session, target), batch, session)
    parity_recorder.record_result(target, result)
    if not result:
        _fail(result.comparison.message(f"{AGREEMENT_EXAMPLES} fixed examples, {target}"))


@pytest.mark.parity("contract")
def test_app_contract(parity_session, parity_target):
    """Signature name, input names, order, shapes, dtypes and output shape are what the
    README promises (a bundle: a seq_<T> signature per bucket, inputs args_0 and args_1)."""
    session, target = parity_session, parity_target
    signature = session.tflite(target).signature
    problems = properties.export_contract_problems(
        signature, session.config, seq_len=target.seq_len, bundle=session.options.bundle
    )
    if problems:
        _fail(
            f"app contract broken ({target}): "
            + "; ".join(problems)
            + f"\nsignature: {signature.describe()}"
        )


@pytest.mark.parity("runtime-build")
def test_the_pinned_runtime_build_is_the_one_that_ran(parity_session, parity_pinned_target):
    """A pinned build (``tflite-runtime==2.14.0``...) ran in its own environment: the worker
    imported exactly that release, so every number of this target is that build's. Without
    any pinned build, this check is reported as not checked, naming the option to add."""
    spec = parity_pinned_target.spec
    build = parity_session.tflite(parity_pinned_target).runtime_build
    wrong = [
        f"{what} {found!r}, not {wanted!r}"
        for what, found, wanted in (
            ("runtime", build.get("runtime"), spec.kind),
            ("version", build.get("version"), spec.version or build.get("version")),
            ("architecture", build.get("arch"), "aarch64" if spec.arch else build.get("arch")),
        )
        if found != wanted
    ]
    if wrong:
        _fail(f"{parity_pinned_target}: asked for {spec}, but the worker ran " + "; ".join(wrong))


@pytest.mark.parity("real-sample")
def test_real_samples_get_the_same_prediction(parity_session, parity_target, parity_recorder):
    """The real samples given, judged by the precision's full rule (as ``verify`` does)."""
    session, target = parity_session, parity_target
    if not session.options.samples:
        pytest.skip(session.options.samples_skip_reason or "real samples: none given")
    batch = Batch(
        *preprocessed_samples(
            session.options.samples,
            seq_len=target.seq_len,
            num_keypoints=session.config.min_input_keypoints,
        )
    )
    result = _run("real-sample", _subject(session, target), batch, session)
    parity_recorder.record_result(target, result)
    if not result:
        failing = [
            name for name, ok in zip(result.descriptions, result.example_ok, strict=True) if not ok
        ]
        _fail(result.comparison.message(f"real samples, {target}; failing: {failing}"))


@pytest.mark.parity("baseline")
def test_no_regression_against_the_shipped_file(parity_session, parity_baseline_target):
    """With --parity-baseline: the contract is unchanged and predictions flip no more than
    allowed."""
    from dataclasses import replace

    session, options = parity_session, parity_session.options
    if parity_baseline_target is None:
        _fail(
            f"the shipped file {options.baseline} takes seq_len {options.baseline_seq_len}, "
            f"which the gate does not export (--parity-seq-lens {options.seq_lens}): the "
            "contract changed, or add that length to --parity-seq-lens"
        )
    target = parity_baseline_target
    shipped = [
        TFLiteModel(options.baseline, signature=name)
        for name in TFLiteModel.names_in(options.baseline)
    ]
    if options.bundle:  # the whole bundle, signature by signature
        lengths = options.seq_lens
    else:
        lengths = (target.seq_len,)
    candidate = [session.tflite(replace(target, seq_len=length)) for length in lengths]
    result = compare_files(shipped, candidate, real=None, max_flip_rate=options.max_flip_rate)
    if not result.passed:
        _fail(
            f"against the shipped file: {result.summary()}\n"
            + "\n".join(result.lines(options.baseline))
            + f"\ncandidate: {target}"
        )

"""Checks a shipped .tflite must pass, against the PyTorch checkpoint: the release gate.

Each test is one check (its ``parity`` marker names it), parametrised over the exported
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
from signbart_parity.checks.compare import compare_logits
from signbart_parity.checks.divergence import divergence_line
from signbart_parity.checks.reference import float64_oracle, oracle_errors, torch_logits
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.gate.profiles import gate_settings
from signbart_parity.inputs.generators import keypoint_kinds_for
from signbart_parity.inputs.masks import BUCKET_MASK_KINDS
from signbart_parity.options import OPTIONS

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
    from signbart_parity.gate.corpus import replay_stored

    properties, failing = replay_stored(parity_session, parity_target)
    for name, value in properties:
        record_property(name, value)
    if failing:
        _fail(
            f"{len(failing)} of {len(properties)} stored counterexamples still fail "
            f"({parity_target}): " + "\n".join(failing)
        )


@pytest.mark.parity("parity")
@gate_settings
@given(data=st.data())
def test_logits_match_pytorch(parity_session, parity_target, parity_recorder, oracle, data):
    session, target = parity_session, parity_target
    example = _draw(data, session, target)
    reference = torch_logits(session.model, example.keypoints, example.mask)
    candidate = session.tflite(target)(example.keypoints, example.mask)
    result = compare_logits(
        reference,
        candidate,
        tolerance_for(target.quantization, target.runtime).per_example(),
        masks=example.mask,
    )
    errors = (None, None)
    if target.quantization == "none":
        exact = torch_logits(oracle, example.keypoints, example.mask)
        errors = oracle_errors(reference, candidate, exact)
    parity_recorder.record(
        target, "parity", result, example.mask, oracle_err=errors[0], tflite_oracle_err=errors[1]
    )
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
        _fail(result.message(f"{target}; {example}") + "\n" + where)


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
    result = properties.padding_invariance(
        session.tflite(target),
        tolerance_for(target.quantization, target.runtime).per_example(),
        example.keypoints,
        example.mask,
        np.random.default_rng(seed),
    )
    parity_recorder.record(target, "padding", result, example.mask)
    if not result:
        if parity_recorder.is_final:  # both inputs: PyTorch gives them the same logits
            scrambled = properties.scramble_padding(
                example.keypoints, example.mask, np.random.default_rng(seed)
            )
            parity_recorder.keep_counterexample(
                target,
                "padding",
                [example.keypoints, scrambled],
                [example.mask, example.mask],
                [repr(example), f"{example!r}, padded frames scrambled (seed {seed})"],
            )
        _fail(result.message(f"padded frames changed the logits; {target}; {example}"))


@pytest.mark.parity("determinism")
@gate_settings
@given(data=st.data())
def test_same_input_gives_same_output(parity_session, parity_target, parity_recorder, data):
    session, target = parity_session, parity_target
    example = _draw(data, session, target)
    result = properties.determinism(session.tflite(target), example.keypoints, example.mask)
    parity_recorder.record(target, "determinism", result, example.mask)
    if not result:
        _fail(result.message(f"two runs of one input differ; {target}; {example}"))


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
    tolerance = tolerance_for(short.quantization, short.runtime).per_example()
    in_tflite = properties.bucket_consistency(
        session.tflite(long), session.tflite(short), tolerance, example.keypoints, example.mask
    )
    in_torch = properties.bucket_consistency(
        properties.TorchRunner(session.model, long.seq_len),
        properties.TorchRunner(session.model, short.seq_len),
        tolerance_for("none"),
        example.keypoints,
        example.mask,
    )
    parity_recorder.record(long, "bucket", in_tflite, example.mask)
    for where, result in (("TFLite", in_tflite), ("PyTorch", in_torch)):
        if not result:
            _fail(
                result.message(
                    f"{where}: {short.seq_len} frames padded to {long.seq_len} differ from the "
                    f"seq_len-{short.seq_len} model; {long.precision}; "
                    f"{example}"
                )
            )


@pytest.mark.parity("agreement")
def test_top1_agreement_rate(parity_session, parity_target, parity_recorder):
    """Over a fixed batch covering every keypoint x mask kind, top-1 agrees as often as the
    precision's tolerance demands (a rate, so checked on a set, not example by example)."""
    from signbart_parity.inputs.generators import example_batch

    session, target = parity_session, parity_target
    keypoints, masks, _ = example_batch(
        np.random.default_rng(AGREEMENT_SEED),
        count=AGREEMENT_EXAMPLES,
        seq_len=target.seq_len,
        num_keypoints=session.config.min_input_keypoints,
        keypoint_kinds=keypoint_kinds_for(tolerance_for(target.quantization, target.runtime)),
    )
    result = properties.logits_parity(
        session.model,
        session.tflite(target),
        tolerance_for(target.quantization, target.runtime),
        keypoints,
        masks,
    )
    parity_recorder.record(target, "agreement", result, masks)
    if not result:
        _fail(result.message(f"{AGREEMENT_EXAMPLES} fixed examples, {target}"))


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
    from signbart_parity.inputs.samples import preprocessed_samples

    session, target = parity_session, parity_target
    if not session.options.samples:
        pytest.skip(session.options.samples_skip_reason or "real samples: none given")
    keypoints, masks, names = preprocessed_samples(
        session.options.samples,
        seq_len=target.seq_len,
        num_keypoints=session.config.min_input_keypoints,
    )
    reference = torch_logits(session.model, keypoints, masks)
    candidate = session.tflite(target)(keypoints, masks)
    tolerance = tolerance_for(target.quantization, target.runtime).per_example()
    result = compare_logits(reference, candidate, tolerance, masks=masks)
    parity_recorder.record(target, "real-sample", result, masks)
    flips = [
        name
        for name, a, b in zip(names, reference.argmax(-1), candidate.argmax(-1), strict=True)
        if a != b
    ]
    if flips or not result:
        _fail(result.message(f"real samples, {target}; prediction differs on: {flips}"))


@pytest.mark.parity("baseline")
def test_no_regression_against_the_shipped_file(parity_session, parity_baseline_target):
    """With --parity-baseline: the contract is unchanged and predictions flip no more than
    allowed."""
    from dataclasses import replace

    from signbart_parity.checks.baseline import compare_files
    from signbart_parity.runtime.run.tflite import TFLiteModel

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

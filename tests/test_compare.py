"""The comparison rules: bounds, excusable and unexplained top-1 flips, agreement rates."""

from __future__ import annotations

import numpy as np
import pytest

from signbart_parity.checks.compare import compare_logits
from signbart_parity.checks.properties import EXACT
from signbart_parity.checks.tolerances import TOLERANCES, Tolerance, tolerance_for

FP32 = tolerance_for("none")
INT8 = tolerance_for("dynamic-int8")


def test_within_the_bound_passes_and_reports_the_numbers():
    reference = np.array([[1.0, 5.0, -2.0]])
    result = compare_logits(reference, reference + 2e-5, FP32)
    assert result.passed and result.examples == 1
    assert result.max_abs_err == pytest.approx(2e-5, rel=1e-3)
    assert 0 < result.bound_ratio < 1
    assert "parity holds" in result.message()


def test_over_the_bound_fails_and_names_the_worst_logit():
    reference = np.array([[1.0, 5.0, -2.0]])
    candidate = reference.copy()
    candidate[0, 2] += 0.01
    result = compare_logits(reference, candidate, FP32)
    assert not result.passed and result.failing_examples == 1
    assert result.worst["logit"] == 2
    assert "PARITY VIOLATED" in result.message() and "max abs err 0.01" in result.message()


def test_a_flip_on_a_near_tie_is_excused_but_a_clear_flip_is_not():
    near_tie = np.array([[4.00, 4.01, 0.0]])  # margin 0.01, int8 bound 0.05 x 4.01
    flipped = np.array([[4.02, 4.00, 0.0]])
    assert compare_logits(near_tie, flipped, INT8.per_example()).passed
    clear = np.array([[4.0, 6.0, 0.0]])  # margin 2: no bound excuses a flip here
    result = compare_logits(clear, np.array([[6.0, 4.0, 0.0]]), INT8.per_example())
    assert not result.passed
    assert any("top-1 flips" in problem for problem in result.problems)


def test_the_agreement_rate_applies_to_sets_not_single_examples():
    near_tie = np.array([[4.00, 4.01, 0.0]])
    flipped = np.array([[4.02, 4.00, 0.0]])
    # One excusable flip is 0% agreement: the rate rule would fail it, per_example does not.
    assert not compare_logits(near_tie, flipped, INT8).passed
    assert compare_logits(near_tie, flipped, INT8.per_example()).passed
    # Over 40 examples one excusable flip is 97.5% agreement, above the 95% required.
    reference = np.repeat(near_tie, 40, axis=0)
    candidate = reference.copy()
    candidate[0] = flipped[0]
    assert compare_logits(reference, candidate, INT8).passed


def test_exact_tolerance_accepts_identical_output_and_rejects_any_difference():
    logits = np.zeros((2, 3))
    assert compare_logits(logits, logits, EXACT).passed  # 0/0 must not be NaN
    different = logits.copy()
    different[1, 1] = 1e-12
    assert not compare_logits(logits, different, EXACT).passed


def test_non_finite_output_always_fails():
    reference = np.array([[1.0, 2.0]])
    assert not compare_logits(reference, np.array([[np.nan, 2.0]]), INT8).passed
    assert not compare_logits(reference, np.array([[np.inf, 2.0]]), INT8).passed


def test_scale_bound_follows_the_logit_scale():
    tolerance = Tolerance("x", scale_fraction=0.05)
    small, large = np.array([[0.1, 0.2]]), np.array([[10.0, 20.0]])
    assert tolerance.bound(small).max() == pytest.approx(0.05)  # scale floors at 1
    assert tolerance.bound(large).max() == pytest.approx(1.0)


def test_every_quantization_has_a_tolerance():
    from signbart_parity.targets import QUANTIZATIONS

    assert set(TOLERANCES) == set(QUANTIZATIONS)


def test_static_int8_is_judged_only_on_keypoints_in_the_unit_range():
    from signbart_parity.inputs.generators import (
        KEYPOINT_KINDS,
        UNIT_RANGE_KEYPOINT_KINDS,
        keypoint_kinds_for,
    )

    static = tolerance_for("static-int8")
    inside, outside = np.full((1, 4, 3, 2), 0.5), np.full((1, 4, 3, 2), 0.5)
    outside[0, 2, 1, 0] = 1.5
    assert static.judges(np.concatenate([inside, outside])).tolist() == [True, False]
    assert tolerance_for("none").judges(outside).tolist() == [True]
    assert keypoint_kinds_for(static) == UNIT_RANGE_KEYPOINT_KINDS
    assert keypoint_kinds_for(tolerance_for("dynamic-int8")) == KEYPOINT_KINDS
    assert "keypoints within [0, 1] only" in static.describe()


def test_unit_range_kinds_really_stay_in_the_unit_range():
    from signbart_parity.inputs.generators import UNIT_RANGE_KEYPOINT_KINDS, make_keypoints

    rng = np.random.default_rng(0)
    for kind in UNIT_RANGE_KEYPOINT_KINDS:
        for _ in range(20):
            values = make_keypoints(kind, rng, seq_len=8, num_keypoints=90)
            assert values.min() >= 0 and values.max() <= 1, kind


def test_per_example_detail_matches_the_verdicts():
    reference = np.array([[4.00, 4.01, 0.0], [4.0, 6.0, 0.0], [1.0, 2.0, 3.0]])
    candidate = np.array([[4.02, 4.00, 0.0], [6.0, 4.0, 0.0], [1.0, 2.0, 3.0]])
    result = compare_logits(reference, candidate, INT8)
    # An excused near-tie flip passes, a clear flip fails, an exact match passes.
    assert result.example_passed.tolist() == [True, False, True]
    assert result.example_abs_err == pytest.approx([0.02, 2.0, 0.0])
    assert "example_abs_err" not in result.to_dict()

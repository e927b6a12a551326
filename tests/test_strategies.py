"""The strategies produce the variety they promise, validate their arguments, and the
numpy generators behind them honour each kind."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.errors import InvalidArgument

from signbart_parity import strategies
from signbart_parity.inputs.generators import (
    KEYPOINT_KINDS,
    example_batch,
    make_keypoints,
    make_mask,
)
from signbart_parity.inputs.masks import MASK_KINDS, classify


def collect(strategy, count: int = 300) -> list:
    """``count`` draws of ``strategy``, the same ones on every run (derandomised): tests of
    the variety a strategy produces must not depend on luck."""
    drawn = []

    @settings(max_examples=count, database=None, deadline=None, derandomize=True)
    @given(strategy)
    def run(value):
        drawn.append(value)

    run()
    return drawn


def test_model_inputs_cover_every_mask_and_keypoint_kind():
    drawn = collect(strategies.model_inputs(seq_len=12, num_keypoints=90))
    assert set(Counter(classify(e.mask[0]) for e in drawn)) == set(MASK_KINDS)
    assert {e.keypoint_kind for e in drawn} == set(KEYPOINT_KINDS)
    assert all(
        e.keypoints.shape == (1, 12, 90, 2) and e.keypoints.dtype == np.float32 for e in drawn
    )
    # Not trivial: the drawn keypoints really differ from one example to the next (179 of
    # 300 distinct with hypothesis 6.170; the bar leaves room for another release's draws).
    assert len({e.keypoints.tobytes() for e in drawn}) > len(drawn) // 3


def test_right_padded_masks_reach_every_valid_length():
    drawn = collect(strategies.masks(seq_len=8, kinds=("right-padded",)))
    assert {int(mask.sum()) for mask in drawn} == set(range(1, 9))
    assert all(classify(mask) in ("right-padded", "all-valid", "single-frame") for mask in drawn)


def test_padded_mask_kinds_always_have_padding_and_a_valid_frame():
    strategy = strategies.masks(
        seq_len=10, kinds=strategies.PADDED_MASK_KINDS, require_padding=True
    )
    drawn = collect(strategy)
    assert all(1 <= mask.sum() < 10 for mask in drawn)
    assert {classify(mask) for mask in drawn} == set(strategies.PADDED_MASK_KINDS)


@pytest.mark.parametrize(
    "make",
    [
        lambda: strategies.masks(seq_len=0),
        lambda: strategies.masks(seq_len=8, kinds=("sideways",)),
        lambda: strategies.masks(seq_len=8, kinds=()),
        lambda: strategies.keypoints(seq_len=8, num_keypoints=-1),
        lambda: strategies.seq_lens(exported=()),
    ],
)
def test_bad_arguments_raise_invalid_argument(make):
    with pytest.raises(InvalidArgument):
        make()


@pytest.mark.parametrize("kind", KEYPOINT_KINDS)
def test_keypoint_kinds_have_their_documented_shape(kind):
    values = make_keypoints(kind, np.random.default_rng(1), seq_len=20, num_keypoints=90)
    assert values.shape == (20, 90, 2) and np.isfinite(values).all()
    if kind in ("uniform", "real-like"):
        assert values.min() >= 0 and values.max() <= 1
    if kind == "large":
        assert np.abs(values).max() > 100
    if kind == "constant":
        assert np.unique(values).size == 1
    if kind == "repeated":
        assert (values == values[0]).all() and np.unique(values).size > 1


def test_real_like_keypoints_miss_whole_hands_like_the_real_data():
    rng = np.random.default_rng(5)
    draws = [make_keypoints("real-like", rng, seq_len=16, num_keypoints=90) for _ in range(20)]
    # A missing hand is a whole 21-keypoint block of exact zeros in a frame.
    left, right = slice(23, 44), slice(44, 65)
    missing = [
        any((d[:, hand] == 0).all(axis=(1, 2)).any() for hand in (left, right)) for d in draws
    ]
    assert sum(missing) >= 10


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_mask_kinds_classify_as_themselves_or_a_degenerate_case(kind):
    rng = np.random.default_rng(3)
    seen = {classify(make_mask(kind, rng, seq_len=16)) for _ in range(50)}
    assert kind in seen


def test_example_batch_cycles_through_every_pair():
    pairs = len(KEYPOINT_KINDS) * len(MASK_KINDS)
    _, masks, descriptions = example_batch(
        np.random.default_rng(0), count=pairs, seq_len=8, num_keypoints=90
    )
    assert len(set(descriptions)) == pairs
    assert masks.shape == (pairs, 8)

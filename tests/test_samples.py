"""Real MLR511 samples load safely and preprocess as the published inference code does."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from signbart_parity.errors import DataError
from signbart_parity.inputs.samples import load_sample, preprocess
from tests.helpers import SAMPLE, TouchOnUnpickle, truncated_copy


def test_loads_the_real_sample():
    sample = load_sample(SAMPLE)

    assert sample.label == "G10"
    assert sample.keypoints.shape == (38, 90, 3)
    assert sample.keypoints.dtype == np.float64


def test_preprocess_pads_and_normalises_the_real_sample():
    frames, mask = preprocess(load_sample(SAMPLE).keypoints, 64)

    assert frames.shape == (64, 90, 2) and frames.dtype == np.float32
    assert mask.shape == (64,) and mask.dtype == np.int64
    assert mask.sum() == 38 and mask[:38].all()
    assert frames.min() >= 0.0 and frames.max() <= 1.0
    assert not frames[38:].any()
    # Normalising each group to its own box spreads a present hand across [0, 1].
    right_hand = frames[:38, 44:65]
    present = right_hand.any(axis=(1, 2))
    assert present.any()
    assert right_hand[present].max() > 0.9


def test_preprocess_resamples_long_sequences():
    keypoints = np.random.default_rng(0).random((100, 90, 3))
    frames, mask = preprocess(keypoints, 64)
    assert frames.shape == (64, 90, 2)
    assert mask.sum() == 64


def test_missing_sample(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_sample(tmp_path / "absent.pkl")


def test_malicious_sample_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"keypoints": TouchOnUnpickle(marker), "class": "G10"}))

    with pytest.raises(DataError, match="refused to load") as caught:
        load_sample(path)

    assert str(path) in str(caught.value)
    assert not marker.exists()


def test_truncated_sample(tmp_path):
    path = truncated_copy(SAMPLE, tmp_path / "half.pkl")
    with pytest.raises(DataError) as caught:
        load_sample(path)
    assert str(caught.value).startswith(str(path))
    assert "truncated" in str(caught.value)


def test_truncated_sample_is_not_called_unsafe(tmp_path):
    path = truncated_copy(SAMPLE, tmp_path / "half.pkl")
    with pytest.raises(DataError, match="truncated or corrupt") as caught:
        load_sample(path)
    assert "refused" not in str(caught.value)


@pytest.mark.parametrize(
    "content, expected",
    [
        ([1, 2, 3], "expected a dict with a 'keypoints' array"),
        ({"keypoints": np.zeros((5, 90))}, "must be an array"),
        ({"keypoints": np.full((5, 90, 3), np.nan)}, "NaN/inf"),
    ],
)
def test_malformed_sample(tmp_path, content, expected):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(DataError, match=expected):
        load_sample(path)


def test_samples_are_preprocessed_on_their_own_layout_then_cut_to_the_model():
    """A 90-keypoint sample for a model that takes the first 65: the per-group boxes are
    those of the 90-keypoint layout (face included), not of a 65-keypoint array."""
    from signbart_parity.inputs.samples import preprocessed_samples

    keypoints, masks, _ = preprocessed_samples([SAMPLE], seq_len=64, num_keypoints=65)
    raw = load_sample(SAMPLE).keypoints
    expected, expected_mask = preprocess(raw, 64)
    assert keypoints.shape == (1, 64, 65, 2)
    np.testing.assert_array_equal(keypoints[0], expected[:, :65])
    np.testing.assert_array_equal(masks[0], expected_mask)
    # Cutting first would have put all 65 keypoints in one group: a different input.
    assert not np.array_equal(keypoints[0], preprocess(raw[:, :65], 64)[0])

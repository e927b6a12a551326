"""convert() on a joint_idx-subset model, its input checks, and atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signbart_parity.checks.properties import logits_parity
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.errors import ConversionError
from signbart_parity.export.convert import convert
from signbart_parity.fileio import atomic_path
from signbart_parity.inputs.masks import MASK_KINDS, mask_patterns
from signbart_parity.model.checkpoint import load_signbart_model
from signbart_parity.model.config import load_config
from signbart_parity.model.signbart import SignBart
from signbart_parity.runtime.run.tflite import TFLiteModel
from tests.helpers import CHECKPOINT, CONFIG, SUBSET_JOINT_IDX, write_config

SUBSET_SEQ_LEN = 8


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """A 75-keypoint-input model (48 selected) converted once at seq_len 8."""
    directory = tmp_path_factory.mktemp("subset")
    config_path = write_config(directory, joint_idx=SUBSET_JOINT_IDX)
    torch.manual_seed(0)
    torch.save(SignBart(load_config(config_path)).state_dict(), directory / "subset.pth")
    model, _ = load_signbart_model(config_path, directory / "subset.pth")
    result = convert(model, seq_len=SUBSET_SEQ_LEN, output=directory / "subset.tflite")
    return model, result


@pytest.mark.slow
def test_subset_conversion_writes_the_expected_signature(subset):
    _, result = subset
    signature = TFLiteModel(result.path).signature

    assert result.path.is_file() and result.size_bytes == result.path.stat().st_size
    assert (result.seq_len, result.quantization) == (SUBSET_SEQ_LEN, "none")
    assert signature == result.signature
    keypoints, mask, logits = signature.inputs[0], signature.inputs[1], signature.outputs[0]
    assert (keypoints.shape, keypoints.dtype) == ((1, SUBSET_SEQ_LEN, 75, 2), "float32")
    assert (mask.shape, mask.dtype) == ((1, SUBSET_SEQ_LEN), "int32")
    assert (logits.shape, logits.dtype) == ((1, 10), "float32")


@pytest.mark.slow
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_subset_file_matches_pytorch(subset, kind):
    model, result = subset
    mask = mask_patterns(SUBSET_SEQ_LEN)[kind][None]
    keypoints = np.random.default_rng(3).random((1, SUBSET_SEQ_LEN, 75, 2), dtype=np.float32)

    tflite = TFLiteModel(result.path)
    comparison = logits_parity(model, tflite, tolerance_for("none"), keypoints, mask)

    assert comparison, comparison.message(kind)


@pytest.fixture(scope="module")
def upstream_model():
    return load_signbart_model(CONFIG, CHECKPOINT)[0]


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"seq_len": 0}, r"seq_len 0 is outside 1\.\.256"),
        ({"seq_len": 257}, r"seq_len 257 is outside 1\.\.256"),
        ({"seq_len": 8, "quantization": "int3"}, "quantization 'int3' is unknown"),
    ],
    ids=["seq_len 0", "seq_len 257", "unknown quantization"],
)
def test_convert_rejects_bad_options_without_writing(upstream_model, tmp_path, options, expected):
    output = tmp_path / "out" / "model.tflite"
    with pytest.raises(ConversionError, match=expected):
        convert(upstream_model, output=output, **options)
    assert not output.exists()


# Atomic writes (signbart_parity.fileio), which every .tflite and report goes through.


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_path_leaves_nothing_when_the_body_raises(tmp_path, error):
    destination = tmp_path / "model.tflite"
    with pytest.raises(error):
        with atomic_path(destination) as temp:
            assert temp.parent == destination.parent and temp != destination
            temp.write_bytes(b"half a model")
            raise error()

    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_existing_destination_on_failure(tmp_path):
    destination = tmp_path / "model.tflite"
    destination.write_bytes(b"the shipped model")
    with pytest.raises(RuntimeError):
        with atomic_path(destination) as temp:
            temp.write_bytes(b"half a new model")
            raise RuntimeError("converter crashed")

    assert destination.read_bytes() == b"the shipped model"
    assert list(tmp_path.iterdir()) == [destination]


def test_atomic_path_replaces_the_destination_on_success(tmp_path):
    destination = tmp_path / "sub" / "model.tflite"
    destination.parent.mkdir()
    destination.write_bytes(b"old")
    with atomic_path(destination) as temp:
        temp.write_bytes(b"new")
        assert destination.read_bytes() == b"old"

    assert destination.read_bytes() == b"new"
    assert list(destination.parent.iterdir()) == [destination]

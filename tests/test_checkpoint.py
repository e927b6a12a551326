"""Checkpoints load safely and strictly, and every failure is a clear CheckpointError."""

from __future__ import annotations

import pickle

import pytest
import torch

from signbart_parity.checkpoint import load_signbart_model, read_state_dict
from signbart_parity.errors import CheckpointError, ConfigError
from tests.helpers import CHECKPOINT, CONFIG, TouchOnUnpickle, truncated_copy, write_config


def test_reads_the_plain_state_dict():
    state_dict = read_state_dict(CHECKPOINT)
    assert state_dict["projection.proj_x1.weight"].shape == (144, 90)
    assert all(isinstance(value, torch.Tensor) for value in state_dict.values())


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint file not found") as caught:
        load_signbart_model(CONFIG, tmp_path / "absent.pth")
    assert str(tmp_path / "absent.pth") in str(caught.value)


def test_missing_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_signbart_model(tmp_path / "absent.yaml", CHECKPOINT)


def test_truncated_checkpoint(tmp_path):
    path = truncated_copy(CHECKPOINT, tmp_path / "half.pth")
    with pytest.raises(CheckpointError, match="truncated or corrupt") as caught:
        load_signbart_model(CONFIG, path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("content", [CONFIG.read_bytes(), b"hello world", b""])
def test_a_file_that_is_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "not-a-checkpoint.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_signbart_model(CONFIG, path)


def test_the_malicious_payload_really_runs_code_when_unpickled(tmp_path):
    """Control for the next test: an unsafe loader would create the marker."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(TouchOnUnpickle(marker)))
    assert marker.exists()


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
@pytest.mark.parametrize("layout", ["object", "inside a training checkpoint"])
def test_unsafe_pickle_is_refused_without_running(tmp_path, writer, layout):
    marker = tmp_path / "pwned"
    payload = TouchOnUnpickle(marker)
    if layout != "object":
        payload = {"model": payload, "epoch": 3}
    path = tmp_path / "evil.pth"
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))

    with pytest.raises(CheckpointError, match="refused to load") as caught:
        load_signbart_model(CONFIG, path)

    assert "unsafe pickle" in str(caught.value)
    assert str(path) in str(caught.value)
    assert not marker.exists()


def test_a_checkpoint_that_is_not_a_state_dict(tmp_path):
    torch.save([torch.zeros(3)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="expected a state_dict"):
        load_signbart_model(CONFIG, tmp_path / "list.pth")


SHAPE_MISMATCHES = {
    "d_model 96": ({"d_model": 96}, "'projection.proj_x1.weight'", "(144, 90)", "(96, 90)"),
    "num_labels 64": (
        {"num_labels": 64},
        "'classification_head.out_proj.weight'",
        "(10, 144)",
        "(64, 144)",
    ),
    "ffn 288": (
        {"encoder_ffn_dim": 288},
        "'encoder.layers.0.fc1.weight'",
        "(144, 144)",
        "(288, 144)",
    ),
}


@pytest.mark.parametrize("case", list(SHAPE_MISMATCHES))
def test_shape_mismatch_names_the_first_key_and_both_shapes(tmp_path, case):
    overrides, key, checkpoint_shape, config_shape = SHAPE_MISMATCHES[case]
    config = write_config(tmp_path, **overrides)

    with pytest.raises(CheckpointError) as caught:
        load_signbart_model(config, CHECKPOINT)

    message = str(caught.value)
    assert message.startswith(str(CHECKPOINT))
    assert f"{key} has shape {checkpoint_shape} in the checkpoint but {config_shape}" in message
    assert "is this the config the checkpoint was trained with?" in message


def test_config_with_more_layers_names_the_missing_key(tmp_path):
    config = write_config(tmp_path, encoder_layers=3)
    with pytest.raises(
        CheckpointError, match=r"no 'encoder\.layers\.2\.[a-z_.]+', which the config"
    ):
        load_signbart_model(config, CHECKPOINT)


def test_config_with_fewer_layers_names_an_unexpected_key(tmp_path):
    config = write_config(tmp_path, decoder_layers=1)
    with pytest.raises(
        CheckpointError, match=r"has 'decoder\.layers\.1\.[a-z_.]+' \(\d+ unexpected"
    ):
        load_signbart_model(config, CHECKPOINT)

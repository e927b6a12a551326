"""Checkpoints load safely and strictly, and every failure is a clear CheckpointError."""

from __future__ import annotations

import pickle

import pytest
import torch

from signbart_parity.errors import CheckpointError, ConfigError
from signbart_parity.model.checkpoint import (
    load_model,
    load_signbart_model,
    read_checkpoint,
    read_state_dict,
)
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
    with pytest.raises(CheckpointError, match="found a list; expected a plain state_dict"):
        load_signbart_model(CONFIG, tmp_path / "list.pth")


def _saved(tmp_path, name: str, payload) -> str:
    torch.save(payload, tmp_path / name)
    return str(tmp_path / name)


@pytest.mark.parametrize(
    ("wrap", "layout"),
    [
        (lambda sd: sd, "plain state_dict"),
        (lambda sd: {"model": sd, "optimizer": {}, "epoch": 3}, "state_dict under 'model'"),
        (
            lambda sd: {
                "model_state_dict": sd,
                "optimizer_state_dict": {"lr": 1e-3},
                "epoch": 9,
                "loss": 0.31,
            },
            "state_dict under 'model_state_dict'",
        ),
        (lambda sd: {"state_dict": sd, "hyper_parameters": {}}, "state_dict under 'state_dict'"),
        (
            lambda sd: {f"module.{key}": value for key, value in sd.items()},
            "plain state_dict, keys prefixed 'module.' (DataParallel/DDP; prefix removed)",
        ),
        (
            lambda sd: {"model_state_dict": {f"module.{k}": v for k, v in sd.items()}},
            "state_dict under 'model_state_dict', keys prefixed 'module.'",
        ),
    ],
)
def test_every_accepted_layout_loads_the_same_weights(tmp_path, wrap, layout):
    original = read_state_dict(CHECKPOINT)
    found = read_checkpoint(_saved(tmp_path, "wrapped.pth", wrap(dict(original))))
    assert found.layout.startswith(layout)
    assert list(found.state_dict) == list(original)
    assert all(torch.equal(found.state_dict[k], original[k]) for k in original)
    assert load_model(CONFIG, tmp_path / "wrapped.pth").layout == found.layout


def test_an_unknown_layout_lists_the_keys_found_and_the_layouts_accepted(tmp_path):
    payload = {"net": read_state_dict(CHECKPOINT), "opt": {}, "epoch": 2}
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(_saved(tmp_path, "custom.pth", payload))
    message = str(caught.value)
    assert "found a dict with top-level keys 'net', 'opt', 'epoch'" in message
    assert "'model', 'model_state_dict' or 'state_dict'" in message
    assert "'module.' prefix" in message


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_weight_is_refused_naming_the_parameter(tmp_path, value):
    state = dict(read_state_dict(CHECKPOINT))
    state["decoder.layers.1.fc2.weight"] = state["decoder.layers.1.fc2.weight"].clone()
    state["decoder.layers.1.fc2.weight"][3, 5] = value
    with pytest.raises(CheckpointError) as caught:
        load_signbart_model(CONFIG, _saved(tmp_path, "broken.pth", {"model": state}))
    message = str(caught.value)
    assert "parameter 'decoder.layers.1.fc2.weight' holds 1 NaN/Inf value(s)" in message
    assert message.startswith(str(tmp_path / "broken.pth"))


def test_finite_weights_giving_non_finite_logits_are_refused(tmp_path):
    state = dict(read_state_dict(CHECKPOINT))
    # Finite but huge: the classifier overflows float32.
    state["classification_head.out_proj.weight"] = torch.full_like(
        state["classification_head.out_proj.weight"], 3e38
    )
    with pytest.raises(CheckpointError, match="gives NaN/Inf logits on a plain input"):
        load_signbart_model(CONFIG, _saved(tmp_path, "overflow.pth", state))


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

"""Our SignBart reproduces the published implementation and honours the attention mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signbart_parity.inputs.masks import mask_patterns
from signbart_parity.model.checkpoint import load_signbart_model
from signbart_parity.model.config import load_config
from signbart_parity.model.signbart import SignBart
from tests.helpers import CHECKPOINT, CONFIG, IO, SUBSET_JOINT_IDX, write_config

UPSTREAM_PARAMETERS = 773_578


def training_checkpoint(path):
    """What the published training loop saves: model, a real AdamW state and the epoch."""
    state_dict = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    model = SignBart(load_config(CONFIG))
    model.load_state_dict(state_dict)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    keypoints = torch.rand(2, 8, 90, 2, generator=generator)
    loss, _ = model(keypoints, torch.ones(2, 8, dtype=torch.int64), torch.tensor([1, 2]))
    loss.backward()
    optimizer.step()
    assert optimizer.state_dict()["state"], "the optimizer state should hold tensors"
    torch.save({"model": state_dict, "optimizer": optimizer.state_dict(), "epoch": 3}, path)
    return path


@pytest.fixture(scope="module")
def upstream_model():
    model, _ = load_signbart_model(CONFIG, CHECKPOINT)
    return model


def logits(model, keypoints, mask):
    with torch.no_grad():
        _, out = model(torch.as_tensor(keypoints), torch.as_tensor(mask, dtype=torch.int64))
    return out.numpy()


@pytest.mark.parametrize("layout", ["state_dict", "training_checkpoint"])
def test_reproduces_upstream_logits(layout, tmp_path):
    checkpoint = CHECKPOINT if layout == "state_dict" else training_checkpoint(tmp_path / "t.pth")
    model, config = load_signbart_model(CONFIG, checkpoint)
    reference = np.load(IO)

    got = logits(model, reference["keypoints"], reference["attention_mask"])

    assert not model.training
    assert config.num_labels == 10
    assert got.shape == reference["logits"].shape == (12, 10)
    assert np.abs(got - reference["logits"]).max() <= 1e-5


def test_parameter_count(upstream_model):
    assert sum(p.numel() for p in upstream_model.parameters()) == UPSTREAM_PARAMETERS


def test_loss_is_cross_entropy_when_labels_are_given(upstream_model):
    reference = np.load(IO)
    keypoints = torch.as_tensor(reference["keypoints"][:4])
    mask = torch.as_tensor(reference["attention_mask"][:4])
    labels = torch.tensor([0, 3, 5, 9])
    with torch.no_grad():
        loss, out = upstream_model(keypoints, mask, labels)
        no_loss, _ = upstream_model(keypoints, mask)
    assert no_loss is None
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(out, labels).item())


@pytest.mark.parametrize("kind", ["right-padded", "left-padded", "holes", "single-frame"])
def test_padded_frames_do_not_change_logits(upstream_model, kind):
    mask = mask_patterns(64)[kind][None]
    rng = np.random.default_rng(7)
    keypoints = rng.random((1, 64, 90, 2), dtype=np.float32)
    changed = keypoints.copy()
    padded = mask[0] == 0
    changed[0, padded] = rng.normal(5.0, 3.0, size=changed[0, padded].shape)

    original = logits(upstream_model, keypoints, mask)

    assert np.abs(logits(upstream_model, changed, mask) - original).max() <= 1e-6
    # The same perturbation in valid frames must move the logits (the test can fail).
    moved = changed.copy()
    moved[0, ~padded] += 0.5
    assert np.abs(logits(upstream_model, moved, mask) - original).max() > 1e-3


@pytest.mark.parametrize("length", [1, 17, 40, 63])
def test_right_padding_matches_unpadded(upstream_model, length):
    rng = np.random.default_rng(length)
    frames = rng.random((1, length, 90, 2), dtype=np.float32)
    padded = np.zeros((1, 64, 90, 2), dtype=np.float32)
    padded[:, :length] = frames
    mask = np.zeros((1, 64), dtype=np.int64)
    mask[:, :length] = 1

    unpadded_logits = logits(upstream_model, frames, np.ones((1, length), dtype=np.int64))
    padded_logits = logits(upstream_model, padded, mask)

    assert np.abs(padded_logits - unpadded_logits).max() <= 1e-5


def test_joint_idx_subset_loads_and_selects_keypoints(tmp_path):
    config_path = write_config(tmp_path, joint_idx=SUBSET_JOINT_IDX)
    config = load_config(config_path)
    torch.manual_seed(0)
    torch.save(SignBart(config).state_dict(), tmp_path / "subset.pth")

    model, loaded = load_signbart_model(config_path, tmp_path / "subset.pth")

    assert (loaded.num_keypoints, loaded.min_input_keypoints) == (48, 75)
    assert model.projection.proj_x1.weight.shape == (144, 48)
    rng = np.random.default_rng(0)
    keypoints = rng.random((3, 16, 75, 2), dtype=np.float32)
    mask = np.ones((3, 16), dtype=np.int64)
    out = logits(model, keypoints, mask)
    assert out.shape == (3, 10)
    assert np.isfinite(out).all()
    # Keypoints outside joint_idx are ignored; a selected one is not.
    unused = sorted(set(range(75)) - set(SUBSET_JOINT_IDX))
    changed = keypoints.copy()
    changed[:, :, unused] = rng.random(changed[:, :, unused].shape, dtype=np.float32)
    assert np.array_equal(logits(model, changed, mask), out)
    changed[:, :, SUBSET_JOINT_IDX[0]] += 0.5
    assert np.abs(logits(model, changed, mask) - out).max() > 1e-4

"""The embedded default: the repo's config and the bundled one agree, and the shipped
weights have the realistic logit margins that make quantization checks meaningful."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from signbart_parity.model.config import load_config
from signbart_parity.model.default import DEFAULT_CHECKPOINT, DEFAULT_CONFIG
from tests.helpers import CONFIG as UPSTREAM_CONFIG

REPO_CONFIG = Path(__file__).parents[1] / "configs" / "arabic-asl.yaml"


def test_bundled_config_is_the_repos_config():
    assert DEFAULT_CONFIG.read_bytes() == REPO_CONFIG.read_bytes()


def test_arabic_asl_config_has_the_published_hyperparameters():
    assert load_config(REPO_CONFIG) == load_config(UPSTREAM_CONFIG)


def test_default_model_is_confident_and_accurate_on_its_synthetic_classes():
    import torch

    from signbart_parity.inputs.synthetic import real_like_batch
    from signbart_parity.model.checkpoint import load_signbart_model

    model, config = load_signbart_model(DEFAULT_CONFIG, DEFAULT_CHECKPOINT)
    keypoints, masks, labels = real_like_batch(
        np.random.default_rng(123),
        count=200,
        seq_len=64,
        num_keypoints=config.num_keypoints,
        num_labels=config.num_labels,
    )
    with torch.no_grad():
        logits = model(torch.from_numpy(keypoints), torch.from_numpy(masks))[1].numpy()
    top2 = np.sort(logits, axis=1)[:, -2:]
    assert (logits.argmax(1) == labels).mean() >= 0.95
    # Random weights give near-tied logits (margins well under 1); these do not.
    assert np.median(top2[:, 1] - top2[:, 0]) > 2.0

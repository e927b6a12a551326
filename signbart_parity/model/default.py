"""The embedded default model: the arabic-asl config with weights from a short,
deterministic training run on synthetic class-separable sequences (``synthetic.py``).

Random weights give near-tied logits, which make quantization checks meaningless; these
weights give logit margins like a trained model's. The checkpoint ships in the package
(``data/default-arabic-asl.pth``, a plain state_dict), so it is byte-identical on every
machine. Rebuild it with ``python -m signbart_parity.model.default``.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import numpy as np

from signbart_parity.fileio import atomic_path
from signbart_parity.inputs.synthetic import real_like_batch
from signbart_parity.model.checkpoint import load_model
from signbart_parity.model.config import load_config

DEFAULT_CONFIG = Path(str(resources.files("signbart_parity") / "data" / "arabic-asl.yaml"))
DEFAULT_CHECKPOINT = Path(
    str(resources.files("signbart_parity") / "data" / "default-arabic-asl.pth")
)
TRAINING_SEED = 20261124
TRAINING_STEPS = 300
BATCH_SIZE = 32
SEQ_LEN = 64


def train_default_state_dict(steps: int = TRAINING_STEPS) -> dict:
    """Train the default model from a fixed seed; returns its state_dict."""
    import torch

    from signbart_parity.model.signbart import SignBart

    torch.manual_seed(TRAINING_SEED)
    torch.use_deterministic_algorithms(True)
    config = load_config(DEFAULT_CONFIG)
    model = SignBart(config).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    rng = np.random.default_rng(TRAINING_SEED)
    for step in range(steps):
        keypoints, mask, labels = real_like_batch(
            rng,
            count=BATCH_SIZE,
            seq_len=SEQ_LEN,
            num_keypoints=config.num_keypoints,
            num_labels=config.num_labels,
        )
        loss, _ = model(
            torch.from_numpy(keypoints), torch.from_numpy(mask), torch.from_numpy(labels)
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 50 == 0:
            print(f"step {step}: loss {loss.item():.3f}", file=sys.stderr)
    return model.state_dict()


def load_model_or_default(
    config: str | Path | None, checkpoint: str | Path | None, *, progress=None
):
    """``(model, config)`` from the given files, the embedded default filling in for None;
    ``progress`` hears which files and which checkpoint layout were loaded."""
    config_path, checkpoint_path = resolve_model_paths(config, checkpoint)
    loaded = load_model(config_path, checkpoint_path)
    if progress is not None:
        progress(f"loaded {checkpoint_path} ({loaded.layout}) with {config_path}")
    return loaded.model, loaded.config


def resolve_model_paths(
    config: str | Path | None, checkpoint: str | Path | None
) -> tuple[Path, Path]:
    """Fill in the embedded default for whichever of config/checkpoint is not given."""
    return (
        Path(config) if config is not None else DEFAULT_CONFIG,
        Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT,
    )


def main() -> None:
    import torch

    state_dict = train_default_state_dict()
    with atomic_path(DEFAULT_CHECKPOINT) as temp:
        torch.save(state_dict, temp)
    print(f"wrote {DEFAULT_CHECKPOINT}")


if __name__ == "__main__":
    main()

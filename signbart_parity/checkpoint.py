"""Load a published SignBart checkpoint safely and strictly into our model."""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.config import SignBartConfig, load_config
from signbart_parity.errors import CheckpointError

if TYPE_CHECKING:
    import torch

    from signbart_parity.model import SignBart


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read either checkpoint layout (plain state_dict, or ``{"model": state_dict, ...}``).

    Only tensors and plain containers are admitted (``weights_only=True``): a pickle that
    would build any other object is refused before it runs.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found; pass an existing .pth file.")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path}: refused to load, the checkpoint holds objects other than tensors "
            "(unsafe pickle); re-save it with torch.save(model.state_dict())."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, LookupError, ValueError, OSError):
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt); "
            "copy the file again or re-save it."
        ) from None
    state_dict = loaded.get("model", loaded) if isinstance(loaded, dict) else loaded
    if not isinstance(state_dict, dict) or not all(
        isinstance(value, torch.Tensor) for value in state_dict.values()
    ):
        raise CheckpointError(
            f"{path}: expected a state_dict or a dict with a 'model' state_dict; "
            "save the checkpoint with torch.save(model.state_dict())."
        )
    return state_dict


def check_fits(
    state_dict: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], path: Path
) -> None:
    """Raise a CheckpointError naming the first key whose presence or shape differs."""
    for key, tensor in expected.items():
        if key not in state_dict:
            raise CheckpointError(
                f"{path}: checkpoint has no '{key}', which the config needs; "
                "is this the config the checkpoint was trained with?"
            )
        got = tuple(state_dict[key].shape)
        if got != tuple(tensor.shape):
            raise CheckpointError(
                f"{path}: '{key}' has shape {got} in the checkpoint but {tuple(tensor.shape)} "
                "from the config; is this the config the checkpoint was trained with?"
            )
    extra = sorted(set(state_dict) - set(expected))
    if extra:
        raise CheckpointError(
            f"{path}: checkpoint has '{extra[0]}' ({len(extra)} unexpected keys in all), "
            "which the config does not describe; is this the config it was trained with?"
        )


def build_model(config: SignBartConfig, state_dict: dict, source: Path) -> SignBart:
    """A SignBart in eval mode with ``state_dict`` loaded strictly."""
    from signbart_parity.model import SignBart

    model = SignBart(config)
    check_fits(state_dict, model.state_dict(), source)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def load_signbart_model(
    config_path: str | Path, checkpoint_path: str | Path
) -> tuple[SignBart, SignBartConfig]:
    """Load a published config + checkpoint pair as ``(model, config)``, model in eval mode.

    Raises:
        ConfigError: the config is missing, unreadable or inconsistent.
        CheckpointError: the checkpoint is missing, unsafe, corrupt, or does not fit the config.
    """
    config = load_config(config_path)
    state_dict = read_state_dict(checkpoint_path)
    return build_model(config, state_dict, Path(checkpoint_path)), config

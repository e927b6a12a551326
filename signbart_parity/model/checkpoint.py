"""Load a published SignBart checkpoint safely and strictly into our model."""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.errors import CheckpointError
from signbart_parity.model.config import SignBartConfig, load_config

if TYPE_CHECKING:
    import torch

    from signbart_parity.model.signbart import SignBart


# Where a training loop may keep the state_dict inside the dict it saved, in the order looked
# at: the published loop, PyTorch's "saving a general checkpoint" tutorial, Lightning-style.
WRAPPER_KEYS = ("model", "model_state_dict", "state_dict")
ACCEPTED_LAYOUTS = (
    "a plain state_dict, or a dict holding it under 'model', 'model_state_dict' or "
    "'state_dict' (its keys may carry DataParallel/DDP's 'module.' prefix)"
)
DDP_PREFIX = "module."


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's state_dict (prefix removed) and how it was laid out in the file."""

    state_dict: dict[str, torch.Tensor]
    layout: str


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint in any accepted layout (see ``ACCEPTED_LAYOUTS``).

    Only tensors and plain containers are admitted (``weights_only=True``): a pickle that
    would build any other object is refused before it runs.

    Raises:
        CheckpointError: missing, unsafe, corrupt, or laid out in a way not accepted (the
            message lists the top-level keys found).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found; pass an existing .pth file.")
    _check_not_tflite(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as exc:
        raise CheckpointError(
            f"{path}: cannot read the checkpoint ({exc.strerror}); make it readable."
        ) from None
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
    state_dict, layout = _find_state_dict(loaded, path)
    if all(key.startswith(DDP_PREFIX) for key in state_dict):
        from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

        state_dict = dict(state_dict)
        consume_prefix_in_state_dict_if_present(state_dict, DDP_PREFIX)
        layout += ", keys prefixed 'module.' (DataParallel/DDP; prefix removed)"
    return Checkpoint(state_dict, layout)


def _check_not_tflite(path: Path) -> None:
    """A .tflite passed as the checkpoint is named as such, not as an "unsafe pickle"."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except PermissionError as exc:
        raise CheckpointError(
            f"{path}: cannot read the checkpoint ({exc.strerror}); make it readable."
        ) from None
    except OSError:
        return  # torch.load reports it
    if head[4:8] == b"TFL3":
        raise CheckpointError(
            f"{path}: is a .tflite file, not a PyTorch checkpoint; pass the .pth the model "
            "was trained into (and the .tflite to verify --tflite)."
        )


def _find_state_dict(loaded, path: Path) -> tuple[dict, str]:
    if _is_state_dict(loaded):
        return loaded, "plain state_dict"
    if isinstance(loaded, dict):
        for key in WRAPPER_KEYS:
            if _is_state_dict(loaded.get(key)):
                return loaded[key], f"state_dict under '{key}'"
        found = ", ".join(repr(key) for key in list(loaded)[:12]) or "none"
        what = f"a dict with top-level keys {found}"
    else:
        what = f"a {type(loaded).__name__}"
    raise CheckpointError(
        f"{path}: found {what}; expected {ACCEPTED_LAYOUTS}. Re-save it with "
        "torch.save(model.state_dict())."
    )


def _is_state_dict(value) -> bool:
    import torch

    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(key, str) for key in value)
        and all(isinstance(tensor, torch.Tensor) for tensor in value.values())
    )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict of a checkpoint in any accepted layout (see ``read_checkpoint``)."""
    return read_checkpoint(path).state_dict


def check_finite(state_dict: dict[str, torch.Tensor], path: Path) -> None:
    """Raise a CheckpointError naming the first parameter holding NaN or Inf."""
    import torch

    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(
                f"{path}: parameter '{name}' holds {bad} NaN/Inf value(s); the checkpoint is "
                "broken (a diverged training run?): use one saved before the loss became NaN."
            )


def check_finite_logits(model: SignBart, path: Path) -> None:
    """Raise a CheckpointError when finite weights still give non-finite logits on a plain
    input (uniform keypoints, every frame valid): the conversion could only be blamed."""
    import torch

    seq_len = min(16, model.config.max_position_embeddings)
    generator = torch.Generator().manual_seed(0)
    keypoints = torch.rand(1, seq_len, model.config.min_input_keypoints, 2, generator=generator)
    with torch.no_grad():
        _, logits = model(keypoints, torch.ones(1, seq_len, dtype=torch.int64))
    if not torch.isfinite(logits).all():
        raise CheckpointError(
            f"{path}: the model gives NaN/Inf logits on a plain input (uniform keypoints, all "
            "frames valid) although its weights are finite; check the checkpoint's weights."
        )


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
        given = state_dict[key]
        if given.is_meta:
            raise CheckpointError(
                f"{path}: '{key}' is a meta tensor (a shape without values); save the "
                "checkpoint after the weights are loaded: torch.save(model.state_dict())."
            )
        if given.is_floating_point() != tensor.is_floating_point():
            raise CheckpointError(
                f"{path}: '{key}' holds {given.dtype} values but the model's are "
                f"{tensor.dtype}; re-save the checkpoint with the weights the model trained."
            )
        got = tuple(given.shape)
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
    """A SignBart in eval mode with ``state_dict`` loaded strictly and checked finite."""
    from signbart_parity.model.signbart import SignBart

    model = SignBart(config)
    check_fits(state_dict, model.state_dict(), source)
    check_finite(state_dict, source)
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    check_finite_logits(model, source)
    return model


@dataclass(frozen=True)
class LoadedModel:
    model: SignBart
    config: SignBartConfig
    layout: str  # how the checkpoint file held its state_dict


def load_model(config_path: str | Path, checkpoint_path: str | Path) -> LoadedModel:
    """Load a config + checkpoint pair; the model in eval mode, plus the checkpoint layout.

    Raises:
        ConfigError: the config is missing, unreadable or inconsistent.
        CheckpointError: the checkpoint is missing, unsafe, corrupt, laid out in a way not
            accepted, does not fit the config, or holds non-finite weights.
    """
    config = load_config(config_path)
    checkpoint = read_checkpoint(checkpoint_path)
    model = build_model(config, checkpoint.state_dict, Path(checkpoint_path))
    return LoadedModel(model, config, checkpoint.layout)


def load_signbart_model(
    config_path: str | Path, checkpoint_path: str | Path
) -> tuple[SignBart, SignBartConfig]:
    """Load a published config + checkpoint pair as ``(model, config)``, model in eval mode.

    Raises:
        ConfigError: the config is missing, unreadable or inconsistent.
        CheckpointError: the checkpoint is missing, unsafe, corrupt, does not fit the config,
            or holds non-finite weights.
    """
    loaded = load_model(config_path, checkpoint_path)
    return loaded.model, loaded.config

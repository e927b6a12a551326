"""The fingerprint of a model's weights: what a file's provenance stamp records and what
``verify`` and ``golden check`` compare to call a file STALE.

It hashes the loaded model's state_dict (names, dtypes, shapes, bytes), so the same tensors
saved in any accepted checkpoint layout (plain, under ``model`` / ``model_state_dict`` /
``state_dict``, with DDP's ``module.`` prefix) give the same fingerprint. It leaves the
module's code out on purpose: a file converted by a broken exporter from the right weights
is not stale, it is wrong, and parity says so (the export cache's key, ``model_fingerprint``,
adds the structure on top).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from signbart_parity.model.signbart import SignBart

SHORT = 12  # hex digits shown to people (48 bits: no accidental collision in practice)


def hash_weights(digest, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Feed every tensor of ``state_dict`` (name, dtype, shape, bytes) to ``digest``."""
    for name, tensor in state_dict.items():
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{data.dtype}|{tuple(data.shape)}|".encode())
        digest.update(data.numpy().tobytes())


def weights_fingerprint(model: SignBart) -> str:
    """sha256 (hex) of the model's weights, independent of how the checkpoint was saved."""
    digest = hashlib.sha256()
    hash_weights(digest, model.state_dict())
    return digest.hexdigest()


def short_fingerprint(fingerprint: str) -> str:
    """How messages show a fingerprint: its first ``SHORT`` hex digits."""
    return fingerprint[:SHORT]

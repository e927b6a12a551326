"""Pieces of the properties a converted file must have: logits parity as one
``Comparison`` (for ``convert --test``), padding helpers, bucket consistency (the gate's
PyTorch side) and the app contract's rules. The checks both doors judge on examples are the
check table's (``table.py``), built from these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.checks.compare import Comparison, compare_logits
from signbart_parity.checks.reference import torch_logits
from signbart_parity.checks.tolerances import Tolerance
from signbart_parity.runtime.read.signature import MASK_DTYPES, signature_name

if TYPE_CHECKING:
    from signbart_parity.model.config import SignBartConfig
    from signbart_parity.model.signbart import SignBart
    from signbart_parity.runtime.read.signature import Signature
    from signbart_parity.runtime.run.tflite import TFLiteModel

# Exactly equal outputs: the bound a same-file, same-input rerun must meet.
EXACT = Tolerance("exact")


def logits_parity(
    model: SignBart, tflite: TFLiteModel, tolerance: Tolerance, keypoints, masks
) -> Comparison:
    """TFLite logits agree with PyTorch's under the precision's tolerance."""
    reference = torch_logits(model, keypoints, masks)
    return compare_logits(reference, tflite(keypoints, masks), tolerance, masks=masks)


def scramble_padding(keypoints: np.ndarray, masks: np.ndarray, rng: np.random.Generator):
    """Copy of ``keypoints`` with every padded frame replaced by large random values."""
    scrambled = keypoints.copy()
    padded = np.asarray(masks) == 0
    scrambled[padded] = rng.normal(0.0, 10.0, scrambled[padded].shape).astype(np.float32)
    return scrambled


def right_pad(keypoints: np.ndarray, masks: np.ndarray, seq_len: int):
    """Pad (N, L, K, 2) / (N, L) inputs on the right to ``seq_len`` frames (zeros, mask 0)."""
    count, length = masks.shape
    padded_keypoints = np.zeros((count, seq_len) + keypoints.shape[2:], dtype=np.float32)
    padded_keypoints[:, :length] = keypoints
    padded_masks = np.zeros((count, seq_len), dtype=np.int64)
    padded_masks[:, :length] = masks
    return padded_keypoints, padded_masks


def bucket_consistency(
    long_model, short_model, tolerance: Tolerance, keypoints, masks
) -> Comparison:
    """L frames right-padded into the seq_len-T model give the seq_len-L model's logits.

    ``long_model``/``short_model`` are callables ``(keypoints, masks) -> logits``: two
    TFLite files, or the PyTorch model (``torch_runner``) for the PyTorch side.
    """
    seq_len = long_model.seq_len
    padded_keypoints, padded_masks = right_pad(keypoints, masks, seq_len)
    return compare_logits(
        short_model(keypoints, masks),
        long_model(padded_keypoints, padded_masks),
        tolerance,
        masks=masks,
    )


class TorchRunner:
    """PyTorch in the TFLiteModel calling convention, for properties that take either."""

    def __init__(self, model: SignBart, seq_len: int) -> None:
        self.model = model
        self.seq_len = seq_len

    def __call__(self, keypoints, masks) -> np.ndarray:
        return torch_logits(self.model, keypoints, masks)


def contract_problems(
    signature: Signature, config: SignBartConfig, *, batch_size: int = 1
) -> list[str]:
    """What differs from the documented app contract (README, "App contract")."""
    problems = []
    ranks = [len(spec.shape) for spec in signature.inputs]
    if ranks != [4, 2]:
        return [f"inputs should be (keypoints rank 4, attention_mask rank 2), got ranks {ranks}"]
    keypoints, mask = signature.inputs
    seq_len = keypoints.shape[1]
    expected = {
        "keypoints": (
            keypoints,
            (batch_size, seq_len, config.min_input_keypoints, 2),
            ("float32",),
        ),
        "attention_mask": (mask, (batch_size, seq_len), MASK_DTYPES),
        "logits": (signature.outputs[0], (batch_size, config.num_labels), ("float32",)),
    }
    for role, (spec, shape, dtypes) in expected.items():
        if spec.shape != shape:
            problems.append(f"{role} shape is {list(spec.shape)}, the config implies {list(shape)}")
        if spec.dtype not in dtypes:
            problems.append(
                f"{role} dtype is {spec.dtype}, a SignBart file has {' or '.join(dtypes)}"
            )
    if seq_len > config.max_position_embeddings:
        problems.append(
            f"seq_len {seq_len} exceeds max_position_embeddings {config.max_position_embeddings}"
        )
    return problems


def export_contract_problems(
    signature: Signature, config: SignBartConfig, *, seq_len: int, bundle: bool
) -> list[str]:
    """What breaks the app contract of a file this tool exports (README, "The app contract"):
    the shapes and dtypes the config implies, plus the names apps code against: signature
    ``serving_default`` (a bundle: ``seq_<T>``), inputs ``args_0`` keypoints, ``args_1`` mask."""
    problems = contract_problems(signature, config)
    if signature.seq_len != seq_len:
        problems.append(f"seq_len is {signature.seq_len}, expected {seq_len}")
    expected = signature_name(seq_len) if bundle else "serving_default"
    if signature.name != expected:
        problems.append(f"the signature is named {signature.name!r}, apps call {expected!r}")
    keys = [spec.key for spec in signature.inputs]
    names = [spec.name for spec in signature.inputs]
    wanted = ["serving_default_args_0", "serving_default_args_1"]
    if keys != ["args_0", "args_1"] or (not bundle and names != wanted):
        problems.append(
            f"inputs are {keys} ({names}), apps expect args_0 (keypoints), args_1 (mask)"
        )
    return problems

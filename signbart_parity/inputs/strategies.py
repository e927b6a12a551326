"""Hypothesis strategies for SignBart inputs.

Masks are drawn from their structure (kind, valid length, hole pattern), which shrinks to
readable minimal examples. Keypoints are drawn as (kind, seed) and generated with numpy by
``inputs.make_keypoints``: shrinking 10,000 floats one by one finds nothing useful, while
the kind and seed reproduce the exact array. Every strategy yields numpy arrays with a
batch dimension of 1, ready for ``TFLiteModel`` and ``torch_logits``.

Example::

    @given(example=model_inputs(seq_len=64, num_keypoints=90))
    def test_something(example):
        keypoints, mask = example.keypoints, example.mask
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from signbart_parity.inputs.generators import KEYPOINT_KINDS, make_keypoints
from signbart_parity.inputs.masks import MASK_KINDS, summarise

# Masks with at least one valid frame and at least one padded one (padding must exist
# for padding properties to test anything).
PADDED_MASK_KINDS = ("right-padded", "left-padded", "holes", "single-frame")


@dataclass(frozen=True)
class ModelInput:
    """One drawn example; its repr is what hypothesis prints for a falsifying example."""

    keypoint_kind: str
    seed: int
    keypoints: np.ndarray  # (1, T, K, 2) float32
    mask: np.ndarray  # (1, T) int64

    def __repr__(self) -> str:
        return (
            f"ModelInput({self.keypoint_kind} keypoints, seed={self.seed}, "
            f"mask: {summarise(self.mask[0])})"
        )


def _check_kinds(kinds, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    kinds = tuple(kinds)
    unknown = [kind for kind in kinds if kind not in allowed]
    if not kinds or unknown:
        raise InvalidArgument(f"{name}={kinds!r}: choose a non-empty subset of {allowed}")
    return kinds


def _check_positive(value: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgument(f"{name}={value!r} must be a positive integer")


def seq_lens(*, exported: tuple[int, ...] | list[int]) -> st.SearchStrategy[int]:
    """One of the sequence lengths a model was exported at."""
    exported = tuple(exported)
    if not exported:
        raise InvalidArgument("exported must name at least one seq_len")
    for value in exported:
        _check_positive(value, "exported seq_len")
    return st.sampled_from(exported)


@st.composite
def _mask(draw, kind: str, seq_len: int) -> np.ndarray:
    mask = np.zeros(seq_len, dtype=np.int64)
    if kind == "all-valid":
        mask[:] = 1
    elif kind == "right-padded":
        mask[: draw(st.integers(1, seq_len), label="valid frames")] = 1
    elif kind == "left-padded":
        mask[seq_len - draw(st.integers(1, seq_len), label="valid frames") :] = 1
    elif kind == "holes":
        pattern = draw(
            st.lists(st.booleans(), min_size=seq_len, max_size=seq_len).filter(any),
            label="valid pattern",
        )
        mask[:] = pattern
    elif kind == "single-frame":
        mask[draw(st.integers(0, seq_len - 1), label="valid frame")] = 1
    return mask


def masks(
    *, seq_len: int, kinds=MASK_KINDS, require_padding: bool = False
) -> st.SearchStrategy[np.ndarray]:
    """(seq_len,) int64 masks (1 = valid) of the given kinds; see ``masks.py`` for their
    meaning and the documented all-zero behaviour. ``require_padding`` keeps only masks
    with at least one padded and one valid frame (for properties about padding)."""
    _check_positive(seq_len, "seq_len")
    kinds = _check_kinds(kinds, MASK_KINDS, "kinds")
    if require_padding and seq_len < 2:
        raise InvalidArgument("require_padding needs seq_len >= 2")
    drawn = st.sampled_from(kinds).flatmap(lambda kind: _mask(kind, seq_len))
    if require_padding:
        drawn = drawn.filter(lambda mask: 0 < mask.sum() < seq_len)
    return drawn


def keypoints(
    *, seq_len: int, num_keypoints: int, kinds=KEYPOINT_KINDS
) -> st.SearchStrategy[tuple[str, int, np.ndarray]]:
    """(kind, seed, (seq_len, K, 2) float32 keypoints) from the distributions in inputs.py."""
    _check_positive(seq_len, "seq_len")
    _check_positive(num_keypoints, "num_keypoints")
    kinds = _check_kinds(kinds, KEYPOINT_KINDS, "kinds")
    return st.tuples(st.sampled_from(kinds), st.integers(0, 2**32 - 1)).map(
        lambda pair: (
            pair[0],
            pair[1],
            make_keypoints(
                pair[0],
                np.random.default_rng(pair[1]),
                seq_len=seq_len,
                num_keypoints=num_keypoints,
            ),
        )
    )


def model_inputs(
    *,
    seq_len: int,
    num_keypoints: int,
    mask_kinds=MASK_KINDS,
    keypoint_kinds=KEYPOINT_KINDS,
    require_padding: bool = False,
) -> st.SearchStrategy[ModelInput]:
    """A batch-of-one example: keypoints of one kind and a mask of one kind."""
    return st.builds(
        lambda drawn, mask: ModelInput(drawn[0], drawn[1], drawn[2][None], mask[None]),
        keypoints(seq_len=seq_len, num_keypoints=num_keypoints, kinds=keypoint_kinds),
        masks(seq_len=seq_len, kinds=mask_kinds, require_padding=require_padding),
    )

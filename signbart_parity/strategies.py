"""Public hypothesis strategies for SignBart inputs (the documented import path).

The strategies live in ``signbart_parity.inputs.strategies``; this module is their stable
public name: ``from signbart_parity.strategies import model_inputs, masks, keypoints``.
"""

from signbart_parity.inputs.strategies import (
    PADDED_MASK_KINDS,
    ModelInput,
    keypoints,
    masks,
    model_inputs,
    seq_lens,
)

__all__ = ["PADDED_MASK_KINDS", "ModelInput", "keypoints", "masks", "model_inputs", "seq_lens"]

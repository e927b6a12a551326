"""Deliberately broken SignBart variants: the conversion bugs the harness must catch.

Each is what a plausible conversion mistake does to the computed function. The self-tests
convert these to .tflite and show that the gate and ``verify`` reject every one.
"""

from __future__ import annotations

import copy

import torch

from signbart_parity.model.signbart import SignBart

FAULTS = (
    "mask-ignored-in-encoder",
    "last-frame-pooling",
    "gelu-tanh",
    "layernorm-eps",
    "weight-noise",
    "inverted-mask",
)
NOISY_WEIGHT = "encoder.layers.0.fc1.weight"


class _MaskIgnoredInEncoder(SignBart):
    def encode(self, x, attention_mask):
        return self.encoder(x, torch.ones_like(attention_mask))


class _LastFramePooling(SignBart):
    def pool(self, hidden, attention_mask):
        return hidden[:, -1]


class _InvertedMask(SignBart):
    def stages(self, keypoints, attention_mask):
        return super().stages(keypoints, 1 - attention_mask)


def broken_model(model: SignBart, fault: str) -> SignBart:
    """A copy of ``model`` with ``fault`` applied; ``model`` itself is untouched."""
    broken = copy.deepcopy(model).eval()
    if fault == "mask-ignored-in-encoder":
        broken.__class__ = _MaskIgnoredInEncoder
    elif fault == "last-frame-pooling":
        broken.__class__ = _LastFramePooling
    elif fault == "inverted-mask":
        broken.__class__ = _InvertedMask
    elif fault == "gelu-tanh":
        for layer in [*broken.encoder.layers, *broken.decoder.layers]:
            layer.gelu_approximate = "tanh"
    elif fault == "layernorm-eps":
        for module in broken.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.eps = 1e-3
    elif fault == "weight-noise":
        weight = broken.get_parameter(NOISY_WEIGHT)
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(weight.shape, generator=generator)
        with torch.no_grad():
            weight.mul_(1 + 0.005 * noise)
    else:
        raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
    return broken

"""Known small graphs that decide whether a GPU device computes LiteRT's GPU kernels right.

Two files, each run on the GPU with fp32 enforced and on LiteRT's CPU (``runtime/gpu.py``
compares them): ``arm64_probe``'s matrix product (a FULLY_CONNECTED, built without the
converter), and an attention block converted by litert-torch from this project's own
``Attention`` module with a padding mask, in the form the exporter writes and LiteRT's GPU
is known to compute right (rank-4 scores, ``scores * keep + bias`` with a fill fp16 holds):
q/k/v projections, scaled scores, the mask, SOFTMAX, the weighted sum of values, the output
projection. torch and litert-torch are imported only when the attention file is made (once
per device and LiteRT build: the verdict is cached).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from signbart_parity.quiet import converter_quieted
from signbart_parity.runtime.provision import arm64_probe

D_MODEL, HEADS, FRAMES = 16, 2, 8
# Valid frames with a hole and a padded tail: every query's row has masked keys.
MASK = np.array([[1, 1, 0, 1, 1, 1, 0, 0]], dtype=np.float32)


def matrix_product(folder: Path) -> tuple[Path, list[np.ndarray]]:
    """The matrix product file and its one input."""
    path = folder / "matrix-product.tflite"
    path.write_bytes(arm64_probe.probe_model_bytes())
    return path, [arm64_probe.probe_inputs()]


def attention_block(folder: Path, seed: int = 0) -> tuple[Path, list[np.ndarray]]:
    """The attention block file (inputs: x float32[1, FRAMES, D_MODEL], mask
    float32[1, FRAMES] of 1 = valid, 0 = padding) and fixed inputs in that order."""
    import torch

    from signbart_parity.model.signbart import Attention, padding_mask

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = Attention(D_MODEL, HEADS, dropout=0.0)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.attention(x, x, padding_mask(mask))

    torch.manual_seed(seed)
    block = Block().eval()
    x = np.random.default_rng(seed + 1).normal(size=(1, FRAMES, D_MODEL)).astype(np.float32)
    path = folder / "attention-block.tflite"
    with converter_quieted():
        import litert_torch

        converted = litert_torch.convert(block, (torch.from_numpy(x), torch.from_numpy(MASK)))
    path.write_bytes(converted.model_content())
    return path, [x, MASK.copy()]


PROBES = {"matrix product": matrix_product, "attention block": attention_block}


def relative_error(on_gpu: np.ndarray, on_cpu: np.ndarray) -> float:
    """max |gpu - cpu| / max |cpu|; inf when shapes differ or the GPU gave a non-finite value."""
    if on_gpu.shape != on_cpu.shape or not np.all(np.isfinite(on_gpu)):
        return float("inf")
    return float(np.max(np.abs(on_gpu - on_cpu)) / max(float(np.max(np.abs(on_cpu))), 1e-12))

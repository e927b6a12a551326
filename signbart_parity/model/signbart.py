"""SignBart, written from the published model's facts (see README, "Model").

State-dict key names match the published checkpoints exactly, so they load with
``strict=True``. The forward pass has no data-dependent Python control flow, so
``torch.export`` (and therefore litert-torch) traces it into one static graph.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from signbart_parity.model.config import SignBartConfig

LAYER_NORM_EPS = 1e-5
# The published learned positional embedding reserves two rows: frame t uses row t + 2.
POSITION_OFFSET = 2


# What a masked attention score becomes. The published model adds float32's lowest value
# (-3.4e38), which fp16 cannot hold: on a GPU computing in fp16 (LiteRT's default) it becomes
# -inf, and the mask's 0 * -inf on every valid frame is NaN. This value is inside fp16's range
# even doubled (decoder self-attention adds the causal fill to it), and exp() of it is 0 in
# float32, so the logits stay the published ones (see ``AttentionMask``).
MASK_FILL = -3.0e4


class AttentionMask(NamedTuple):
    """``scores * keep + bias``: keep is 1 on a valid key and 0 on padding, bias 0 or
    ``MASK_FILL``. A masked score becomes exactly the fill, never ``score + fill``, so a row
    with every key masked is uniform, as the published model's absorbed -3.4e38 makes it."""

    keep: torch.Tensor  # (B, 1, 1, T)
    bias: torch.Tensor  # (B, 1, 1, T), or (B, 1, T, T) with the causal fill


def padding_mask(attention_mask: torch.Tensor) -> AttentionMask:
    """(B, T) mask of 1 = valid / 0 = padding -> the keep and bias of every query's keys."""
    keep = attention_mask.to(torch.float32)[:, None, None, :]
    return AttentionMask(keep, (1.0 - keep) * MASK_FILL)


def causal_mask(padding: AttentionMask) -> AttentionMask:
    """``padding`` plus the fill on later frames (T, T), so no frame attends to the future."""
    length = padding.keep.shape[-1]
    later = torch.full((length, length), MASK_FILL, device=padding.keep.device).triu(1)
    return AttentionMask(padding.keep, padding.bias + later)


class Attention(nn.Module):
    """Multi-head attention with biased q/k/v/out projections (BART layout)."""

    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self, queries: torch.Tensor, keys_values: torch.Tensor, mask: AttentionMask
    ) -> torch.Tensor:
        batch, length, d_model = queries.shape
        q = self._split_heads(self.q_proj(queries) * self.scaling)
        k = self._split_heads(self.k_proj(keys_values))
        v = self._split_heads(self.v_proj(keys_values))
        scores = (q @ k.transpose(-1, -2)) * mask.keep + mask.bias
        weights = F.dropout(scores.softmax(dim=-1), p=self.dropout, training=self.training)
        context = (weights @ v).transpose(1, 2).reshape(batch, length, d_model)
        return self.out_proj(context)


class EncoderLayer(nn.Module):
    """Post-LN layer: self-attention, then fc1 -> GELU -> fc2, each with a residual + LN."""

    def __init__(self, config: SignBartConfig, num_heads: int, ffn_dim: int) -> None:
        super().__init__()
        d = config.d_model
        self.dropout = config.dropout
        self.activation_dropout = config.activation_dropout
        # The published model uses the exact (erf) GELU; an attribute so a fault can swap it.
        self.gelu_approximate = "none"
        self.self_attn = Attention(d, num_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.fc1 = nn.Linear(d, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)

    def extra_repr(self) -> str:
        # In the repr so a model's fingerprint (cache.py) changes with the activation.
        return f"gelu_approximate={self.gelu_approximate!r}"

    def forward(self, x: torch.Tensor, self_mask: AttentionMask) -> torch.Tensor:
        x = self.self_attn_layer_norm(x + self._drop(self.self_attn(x, x, self_mask)))
        return self._feed_forward(x)

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = F.gelu(self.fc1(x), approximate=self.gelu_approximate)
        hidden = F.dropout(hidden, p=self.activation_dropout, training=self.training)
        return self.final_layer_norm(x + self._drop(self.fc2(hidden)))

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, p=self.dropout, training=self.training)


class DecoderLayer(EncoderLayer):
    """An encoder layer with cross-attention over the encoder output before the FFN."""

    def __init__(self, config: SignBartConfig, num_heads: int, ffn_dim: int) -> None:
        super().__init__(config, num_heads, ffn_dim)
        self.encoder_attn = Attention(config.d_model, num_heads, config.attention_dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model, eps=LAYER_NORM_EPS)

    def forward(  # type: ignore[override]
        self,
        y: torch.Tensor,
        self_mask: AttentionMask,
        encoder_out: torch.Tensor,
        cross_mask: AttentionMask,
    ) -> torch.Tensor:
        y = self.self_attn_layer_norm(y + self._drop(self.self_attn(y, y, self_mask)))
        cross = self.encoder_attn(y, encoder_out, cross_mask)
        y = self.encoder_attn_layer_norm(y + self._drop(cross))
        return self._feed_forward(y)


class Stack(nn.Module):
    """Learned positions + ``layernorm_embedding`` + layers (encoder and decoder alike)."""

    def __init__(self, config: SignBartConfig, layers: list[EncoderLayer]) -> None:
        super().__init__()
        self.dropout = config.dropout
        rows = config.max_position_embeddings + POSITION_OFFSET
        self.embed_positions = nn.Embedding(rows, config.d_model)
        self.layernorm_embedding = nn.LayerNorm(config.d_model, eps=LAYER_NORM_EPS)
        self.layers = nn.ModuleList(layers)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        positions = self.embed_positions.weight[POSITION_OFFSET : POSITION_OFFSET + length]
        x = self.layernorm_embedding(x + positions)
        return F.dropout(x, p=self.dropout, training=self.training)


class Encoder(Stack):
    def __init__(self, config: SignBartConfig) -> None:
        heads, ffn = config.encoder_attention_heads, config.encoder_ffn_dim
        super().__init__(
            config, [EncoderLayer(config, heads, ffn) for _ in range(config.encoder_layers)]
        )

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        """Returns every layer's output; the last one is the encoder output."""
        x = self.embed(x)
        mask = padding_mask(attention_mask)
        outputs = []
        for layer in self.layers:
            x = layer(x, mask)
            outputs.append(x)
        return outputs


class Decoder(Stack):
    def __init__(self, config: SignBartConfig) -> None:
        heads, ffn = config.decoder_attention_heads, config.decoder_ffn_dim
        super().__init__(
            config, [DecoderLayer(config, heads, ffn) for _ in range(config.decoder_layers)]
        )

    def forward(
        self, y: torch.Tensor, encoder_out: torch.Tensor, attention_mask: torch.Tensor
    ) -> list[torch.Tensor]:
        """Returns every layer's output; the last one is the decoder output."""
        y = self.embed(y)
        cross_mask = padding_mask(attention_mask)
        self_mask = causal_mask(cross_mask)
        outputs = []
        for layer in self.layers:
            y = layer(y, self_mask, encoder_out, cross_mask)
            outputs.append(y)
        return outputs


class Projection(nn.Module):
    """x and y coordinates, each (B, T, K), projected separately to d_model.

    Written as a matmul, not ``nn.Linear``'s call: litert-torch then keeps the product
    rank-3 (1, T, d_model). From the call it emits a rank-2 (T, d_model) product, and the
    position-embedding add that follows (one (1, T, d_model) constant) is computed wrong by
    LiteRT's GPU accelerator: every frame gets frame 0's row (README, "The GPU lane").
    """

    def __init__(self, config: SignBartConfig) -> None:
        super().__init__()
        self.proj_x1 = nn.Linear(config.num_keypoints, config.d_model)
        self.proj_y1 = nn.Linear(config.num_keypoints, config.d_model)

    def forward(self, keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _project(self.proj_x1, keypoints[..., 0]), _project(self.proj_y1, keypoints[..., 1])


def _project(linear: nn.Linear, coordinates: torch.Tensor) -> torch.Tensor:
    return coordinates @ linear.weight.t() + linear.bias


class ClassificationHead(nn.Module):
    def __init__(self, config: SignBartConfig) -> None:
        super().__init__()
        self.dropout = config.classifier_dropout
        self.out_proj = nn.Linear(config.d_model, config.num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.out_proj(F.dropout(pooled, p=self.dropout, training=self.training))


def last_valid_frame(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """hidden[b, argmax(cumsum(mask == 1))]: the last valid frame, frame 0 for an empty mask.

    Written as a one-hot weighted sum rather than a gather so it lowers to plain TFLite ops.
    """
    length = hidden.shape[1]
    positions = torch.arange(length, device=hidden.device, dtype=torch.float32)
    valid = (attention_mask == 1).to(torch.float32)
    last = (positions * valid).amax(dim=1, keepdim=True)
    one_hot = (positions[None, :] == last).to(hidden.dtype)
    return (one_hot[:, :, None] * hidden).sum(dim=1)


class SignBart(nn.Module):
    """``forward(keypoints, attention_mask, labels=None) -> (loss, logits)``."""

    def __init__(self, config: SignBartConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer(
            "joint_idx", torch.tensor(config.joint_idx, dtype=torch.long), persistent=False
        )
        self.projection = Projection(config)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.classification_head = ClassificationHead(config)

    def forward(
        self,
        keypoints: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        logits = self.stages(keypoints, attention_mask)["logits"]
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return loss, logits

    def stages(self, keypoints: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        """Every stage's output, in order; divergence localisation compares these."""
        out: dict[str, torch.Tensor] = {}
        x, y = self.projection(keypoints.index_select(2, self.joint_idx))
        out["projection_x"], out["projection_y"] = x, y
        encoder_outputs = self.encode(x, attention_mask)
        for index, hidden in enumerate(encoder_outputs):
            out[f"encoder_layer_{index}"] = hidden
        decoder_outputs = self.decode(y, encoder_outputs[-1], attention_mask)
        for index, hidden in enumerate(decoder_outputs):
            out[f"decoder_layer_{index}"] = hidden
        out["pooled"] = self.pool(decoder_outputs[-1], attention_mask)
        out["logits"] = self.classification_head(out["pooled"])
        return out

    # The three steps below are methods so a deliberately broken variant can override one.
    def encode(self, x: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder(x, attention_mask)

    def decode(
        self, y: torch.Tensor, encoder_out: torch.Tensor, attention_mask: torch.Tensor
    ) -> list[torch.Tensor]:
        return self.decoder(y, encoder_out, attention_mask)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return last_valid_frame(hidden, attention_mask)

"""The documents the tool owns, declared once as pydantic schemas and checked at the read
boundary (``validate.validated``), before the hand-written readers use them.

They declare what a reader relies on (types, bounds, allowed words) and let other keys
through (``extra="allow"``): newer writers may add keys. Bounds come from ``limits.py``.
pydantic is imported here only, and this module only when a document is read (it costs
~0.1-0.2 s to import; never at pytest's start-up).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from signbart_parity.limits import MAX_SEQ_LEN

_OPEN = ConfigDict(extra="allow")
SeqLen = Annotated[StrictInt, Field(ge=1, le=MAX_SEQ_LEN)]
Short = Annotated[StrictStr, Field(max_length=512)]
Count = Annotated[StrictInt, Field(ge=0, le=10**9)]


# ---------------------------------------------------------------- config (YAML)
class ConfigSizes(BaseModel):
    """What a model of these sizes may declare: each bound is far above any published
    SignBart config (d_model 256, 6 layers, 8 heads, 1024 ffn, 512 positions, 502 labels)
    and far below what would exhaust memory before the first layer is built."""

    model_config = _OPEN
    d_model: int = Field(le=16_384)
    encoder_layers: int = Field(le=128)
    decoder_layers: int = Field(le=128)
    encoder_attention_heads: int = Field(le=256)
    decoder_attention_heads: int = Field(le=256)
    encoder_ffn_dim: int = Field(le=65_536)
    decoder_ffn_dim: int = Field(le=65_536)
    max_position_embeddings: int = Field(le=MAX_SEQ_LEN)
    num_labels: int = Field(le=100_000)
    joint_idx: list[Annotated[int, Field(le=100_000)]] = Field(max_length=100_000)


# ---------------------------------------------------------------- golden metadata (JSON)
class GoldenMetadata(BaseModel):
    model_config = _OPEN
    format: Short
    format_version: StrictInt
    seq_lens: list[SeqLen] | None = Field(default=None, max_length=64)


# ---------------------------------------------------------------- provenance stamp (JSON)
class Stamp(BaseModel):
    model_config = _OPEN
    schema_: StrictInt = Field(alias="schema")
    weights: Short
    quantization: Short
    seq_lens: list[SeqLen] = Field(max_length=64)
    signatures: list[Short] = Field(max_length=64)
    num_labels: Count
    config: dict
    versions: dict[Short, Short]
    batch_size: Annotated[StrictInt, Field(ge=1, le=4096)] = 1
    calibration: Short = ""
    recipe: Short = ""


# ---------------------------------------------------------------- parity.json
class _Target(BaseModel):
    model_config = _OPEN
    seq_len: SeqLen
    quantization: Short
    runtime: Short


class _Outcome(BaseModel):
    model_config = _OPEN
    nodeid: StrictStr
    outcome: Literal["passed", "failed", "error", "skipped"]
    target: _Target | None = None


class ReportDocument(BaseModel):
    model_config = _OPEN
    results: list[_Target]
    outcomes: list[_Outcome] | None = None
    run: dict | None = None
    shard: Annotated[StrictStr, Field(pattern=r"^[1-9][0-9]{0,5}/[1-9][0-9]{0,5}$")] | None = None

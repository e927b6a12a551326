"""Load and validate a SignBart YAML config (the published training code's format)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from signbart_parity.errors import ConfigError, ConversionError
from signbart_parity.fileio import read_text
from signbart_parity.validate import InvalidDocument, parse_yaml, validated

_INT_KEYS = (
    "d_model",
    "encoder_layers",
    "decoder_layers",
    "encoder_attention_heads",
    "decoder_attention_heads",
    "encoder_ffn_dim",
    "decoder_ffn_dim",
    "max_position_embeddings",
    "num_labels",
)


class LongSequenceWarning(UserWarning):
    """A seq_len whose memory (attention grows with its square) may exceed the machine's:
    said before the work starts, not found as an out-of-memory kill after it."""


# Measured: converting and checking the default model at seq_len 4096 took 12 GB; attention's
# scores grow with the square of the length. Above LONG_SEQ_LEN the estimate is said first.
MEASURED_GB_AT_4096 = 12.0
LONG_SEQ_LEN = 1024
_FLOAT_KEYS = ("dropout", "attention_dropout", "activation_dropout", "classifier_dropout")


@dataclass(frozen=True)
class SignBartConfig:
    """The keys the forward pass uses; unknown keys in the YAML are ignored."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_attention_heads: int
    decoder_attention_heads: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    max_position_embeddings: int
    num_labels: int
    joint_idx: tuple[int, ...]
    dropout: float
    attention_dropout: float
    activation_dropout: float
    classifier_dropout: float

    @property
    def num_keypoints(self) -> int:
        """K: keypoints the model sees per frame (after selecting ``joint_idx``)."""
        return len(self.joint_idx)

    @property
    def min_input_keypoints(self) -> int:
        """The smallest K_in an input may have: ``max(joint_idx) + 1``."""
        return max(self.joint_idx) + 1

    def check_seq_lens(self, seq_lens: int | Sequence[int]) -> tuple[int, ...]:
        """The lengths, if each fits the position table; else ConversionError naming the fix.
        Every front door calls this once, where the user gave the lengths."""
        values = (seq_lens,) if isinstance(seq_lens, int) else tuple(seq_lens)
        for seq_len in values:
            if not 1 <= seq_len <= self.max_position_embeddings:
                raise ConversionError(
                    f"seq_len {seq_len} is outside 1..{self.max_position_embeddings} "
                    "(max_position_embeddings in the config); choose a length in that range."
                )
        longest = max(values, default=0)
        if longest > LONG_SEQ_LEN:
            gigabytes = MEASURED_GB_AT_4096 * (longest / 4096) ** 2
            warnings.warn(
                LongSequenceWarning(
                    f"seq_len {longest} needs about {gigabytes:.0f} GB of memory at the default "
                    f"model's size (attention grows with the square of the length; "
                    f"{MEASURED_GB_AT_4096:.0f} GB measured at 4096); check the machine has "
                    f"it, or use the length the app sends"
                ),
                stacklevel=2,
            )
        return values

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["joint_idx"] = list(self.joint_idx)
        return data


def load_config(path: str | Path) -> SignBartConfig:
    """Read a YAML config file and validate the keys the model needs.

    Raises:
        ConfigError: the file is missing, not YAML, not a mapping, or a key is missing/ill-typed.
    """
    path = Path(path)
    text = read_text(
        path,
        ConfigError,
        missing="config file not found; pass an existing YAML file.",
        unreadable="cannot read config ({reason}); pass a UTF-8 YAML file.",
    )
    try:
        raw = parse_yaml(text, name="config")
    except InvalidDocument as exc:
        raise ConfigError(f"{path}: config {exc}; fix the YAML.") from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: config must be a YAML mapping of keys to values, got {type(raw).__name__}."
        )
    return config_from_mapping(raw, source=str(path))


def config_from_mapping(raw: dict[str, Any], *, source: str = "<config>") -> SignBartConfig:
    """Validate a parsed config mapping; ``source`` names it in error messages."""
    values: dict[str, Any] = {}
    for key in _INT_KEYS:
        values[key] = _require_int(raw, key, source)
    for key in _FLOAT_KEYS:
        values[key] = _require_float(raw, key, source)
    values["joint_idx"] = _require_joint_idx(raw, source)
    _check_sizes(raw, source)
    config = SignBartConfig(**values)
    _check_consistency(config, source)
    return config


def _check_sizes(raw: dict[str, Any], source: str) -> None:
    """Sizes a model can be built with (``schemas.ConfigSizes``): a config asking for
    d_model 1e9 is bad input, not a MemoryError after minutes."""
    from signbart_parity.schemas import ConfigSizes

    try:
        validated(ConfigSizes, raw, name="SignBart config")
    except InvalidDocument as exc:
        raise ConfigError(f"{source}: config {exc}; use sizes a model can have.") from None


def _require(raw: dict[str, Any], key: str, source: str) -> Any:
    if key not in raw:
        raise ConfigError(f"{source}: config key '{key}' is missing; add it to the YAML.")
    return raw[key]


def _require_int(raw: dict[str, Any], key: str, source: str) -> int:
    value = _require(raw, key, source)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{source}: config key '{key}' must be a positive integer, got {value!r}."
        )
    return value


def _require_float(raw: dict[str, Any], key: str, source: str) -> float:
    value = _require(raw, key, source)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(
            f"{source}: config key '{key}' must be a probability in [0, 1), got {value!r}."
        )
    return float(value)


def _require_joint_idx(raw: dict[str, Any], source: str) -> tuple[int, ...]:
    value = _require(raw, "joint_idx", source)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
    ):
        raise ConfigError(
            f"{source}: config key 'joint_idx' must be a non-empty list of non-negative integers."
        )
    return tuple(value)


def _check_consistency(config: SignBartConfig, source: str) -> None:
    for heads_key in ("encoder_attention_heads", "decoder_attention_heads"):
        heads = getattr(config, heads_key)
        if config.d_model % heads:
            raise ConfigError(
                f"{source}: d_model {config.d_model} is not divisible by {heads_key} {heads}; "
                "choose a head count that divides d_model."
            )

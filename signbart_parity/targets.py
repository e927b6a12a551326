"""The words every stage shares: precisions, runtimes, and the target a check is about.

Below ``export/`` on purpose: reports, the gate and the CLI name precisions and targets
without importing the exporter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from signbart_parity.runtime_specs import RuntimeSpec, parse_runtime_spec

# The converter's names; ``none`` is fp32, the word users see (``precision_label``); users
# may type either, and files written before said ``none``.
QUANTIZATIONS = ("none", "fp16", "dynamic-int8", "weight-only-int8", "static-int8")
FP32_ALIAS = "fp32"


def precision_label(quantization: str) -> str:
    """How people and files name a precision: ``none`` is ``fp32``, others as is."""
    return FP32_ALIAS if quantization == "none" else str(quantization)


def quantization_of(word: str) -> str:
    """The converter's name of a precision given in either word (``fp32`` is ``none``)."""
    return "none" if word == FP32_ALIAS else str(word)


@dataclass(frozen=True, order=True)
class Target:
    """One exported file (or one signature of a bundle, by its seq_len) at one precision,
    run by one runtime: what a report row and a check are about.

    Made once at the edge: the precision may be given as ``fp32`` or ``none`` (kept as the
    converter's name), the runtime in any spelling of its spec (kept as the canonical text;
    ValueError naming the accepted forms when it is not one). ``str(target)`` is the one way
    people see it, ``target.id`` the one way machines store it (``Target.from_id``)."""

    seq_len: int
    quantization: str
    runtime: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "seq_len", int(self.seq_len))
        object.__setattr__(self, "quantization", quantization_of(self.quantization))
        object.__setattr__(self, "runtime", str(parse_runtime_spec(str(self.runtime))))

    @property
    def precision(self) -> str:
        """The precision in the users' word (``fp32``, ``dynamic-int8``...)."""
        return precision_label(self.quantization)

    @property
    def spec(self) -> RuntimeSpec:
        """The runtime spec, parsed."""
        return parse_runtime_spec(self.runtime)

    def __str__(self) -> str:
        """``seq_len 16, fp32, litert``: in messages, lists (joined by "; ") and test ids."""
        return f"seq_len {self.seq_len}, {self.precision}, {self.runtime}"

    @property
    def id(self) -> str:
        """``16|fp32|litert``: one line of text that ``from_id`` reads back."""
        return f"{self.seq_len}|{self.precision}|{self.runtime}"

    @classmethod
    def from_id(cls, text: str) -> Target | None:
        parts = text.split("|")
        return cls(int(parts[0]), parts[1], parts[2]) if len(parts) == 3 else None

    def to_dict(self) -> dict[str, Any]:
        return {"seq_len": self.seq_len, "quantization": self.precision, "runtime": self.runtime}

    @classmethod
    def from_dict(cls, data: dict) -> Target:
        """A target as ``to_dict`` wrote it (files written before said ``none`` for fp32)."""
        return cls(int(data["seq_len"]), str(data["quantization"]), str(data["runtime"]))

"""What a report row and a check are about: one exported file (or one signature of a
bundle, by its seq_len) at one precision, run by one runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Target:
    """One exported file under test, run by one runtime."""

    seq_len: int
    quantization: str
    runtime: str

    def __str__(self) -> str:
        return f"seq_len {self.seq_len}, {self.quantization}, {self.runtime}"

    def to_dict(self) -> dict[str, Any]:
        return {"seq_len": self.seq_len, "quantization": self.quantization, "runtime": self.runtime}

    @classmethod
    def from_dict(cls, data: dict) -> Target:
        return cls(int(data["seq_len"]), str(data["quantization"]), str(data["runtime"]))

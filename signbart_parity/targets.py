"""The words every stage shares: precisions, runtimes, and the target a check is about.

Below ``export/`` on purpose: reports, the gate and the CLI name precisions and targets
without importing the exporter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The converter's names; ``none`` is fp32 (``precision_label``), which users may also type.
QUANTIZATIONS = ("none", "fp16", "dynamic-int8", "weight-only-int8", "static-int8")
FP32_ALIAS = "fp32"
# In-process TFLite runtimes: ai_edge_litert's Interpreter, TensorFlow's tf.lite.Interpreter,
# ai_edge_litert's CompiledModel on the CPU.
RUNTIMES = ("litert", "tensorflow", "compiled")


def precision_label(quantization: str) -> str:
    """How reports and messages name a precision: ``none`` is ``fp32``, others as is."""
    return FP32_ALIAS if quantization == "none" else str(quantization)


@dataclass(frozen=True, order=True)
class Target:
    """One exported file (or one signature of a bundle, by its seq_len) at one precision,
    run by one runtime: what a report row and a check are about."""

    seq_len: int
    quantization: str
    runtime: str

    def __str__(self) -> str:
        return f"seq_len {self.seq_len}, {precision_label(self.quantization)}, {self.runtime}"

    def label(self) -> str:
        """How a list of targets names one (``seq_len 16 fp32 litert``): no commas inside,
        so lists of them can be joined with "; "."""
        return f"seq_len {self.seq_len} {precision_label(self.quantization)} {self.runtime}"

    def to_dict(self) -> dict[str, Any]:
        return {"seq_len": self.seq_len, "quantization": self.quantization, "runtime": self.runtime}

    @classmethod
    def from_dict(cls, data: dict) -> Target:
        return cls(int(data["seq_len"]), str(data["quantization"]), str(data["runtime"]))

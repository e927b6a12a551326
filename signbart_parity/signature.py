"""The app-facing contract of a .tflite file: its inputs and outputs, in order."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def describe(self) -> str:
        return f"{self.name} {self.dtype}{list(self.shape)}"


@dataclass(frozen=True)
class Signature:
    """Inputs in the order the app passes them, and the single logits output."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def keypoints(self) -> TensorSpec:
        return next(spec for spec in self.inputs if len(spec.shape) == 4)

    @property
    def attention_mask(self) -> TensorSpec:
        return next(spec for spec in self.inputs if len(spec.shape) == 2)

    @property
    def seq_len(self) -> int:
        return self.keypoints.shape[1]

    @property
    def num_keypoints(self) -> int:
        return self.keypoints.shape[2]

    @property
    def num_labels(self) -> int:
        return self.outputs[0].shape[-1]

    def to_dict(self) -> dict:
        return {
            "inputs": [asdict(spec) | {"shape": list(spec.shape)} for spec in self.inputs],
            "outputs": [asdict(spec) | {"shape": list(spec.shape)} for spec in self.outputs],
        }

    def describe(self) -> str:
        inputs = ", ".join(spec.describe() for spec in self.inputs)
        outputs = ", ".join(spec.describe() for spec in self.outputs)
        return f"inputs ({inputs}) -> outputs ({outputs})"

    def differences(self, other: Signature) -> list[str]:
        """Human-readable contract changes from ``self`` (shipped) to ``other`` (candidate)."""
        changes = []
        for kind, old, new in (
            ("input", self.inputs, other.inputs),
            ("output", self.outputs, other.outputs),
        ):
            if len(old) != len(new):
                changes.append(f"{kind} count {len(old)} -> {len(new)}")
            for position, (a, b) in enumerate(zip(old, new, strict=False)):
                if a != b:
                    changes.append(f"{kind} {position}: {a.describe()} -> {b.describe()}")
        return changes

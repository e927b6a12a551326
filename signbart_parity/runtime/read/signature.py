"""The app-facing contract of a .tflite file: its inputs and outputs, in order."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Attention-mask dtypes a SignBart conversion produces: int32 (litert-torch's default, which
# narrows the published int64), int64 (litert-torch with enable_x64=True, older
# ai-edge-torch), float32 (SignBartTF's Keras files). All are fed as the file declares.
MASK_DTYPES = ("int32", "int64", "float32")
# What each dtype means to an app, where it matters.
MASK_DTYPE_WARNINGS = {
    "int64": (
        "the attention mask is int64: LiteRT's TensorBuffer (CompiledModel, in Kotlin as in "
        "Python) writes no int64 data, so an Android app on CompiledModel cannot feed this "
        "input; re-export with an int32 mask (what signbart-parity convert writes)"
    ),
    "float32": "the attention mask is float32: apps pass 1.0 for valid frames, 0.0 for padding",
}


def signature_name(seq_len: int) -> str:
    """The name of a bundle's signature for one bucket (a single file's is serving_default)."""
    return f"seq_{seq_len}"


@dataclass(frozen=True)
class TensorSpec:
    name: str  # the tensor's name in the file
    shape: tuple[int, ...]
    dtype: str
    key: str = ""  # its name in the signature (args_0, args_1, output_0)

    def describe(self) -> str:
        return f"{self.name} {self.dtype}{list(self.shape)}"


@dataclass(frozen=True)
class Signature:
    """Inputs in the order the app passes them, and the single logits output."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    name: str = ""  # the signature's name in the file ("" when it declares none)

    def warnings(self) -> list[str]:
        """What an app must know about this contract beyond its shapes (the mask dtype)."""
        warning = MASK_DTYPE_WARNINGS.get(self.attention_mask.dtype)
        return [warning] if warning else []

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
            "name": self.name,
            "inputs": [asdict(spec) | {"shape": list(spec.shape)} for spec in self.inputs],
            "outputs": [asdict(spec) | {"shape": list(spec.shape)} for spec in self.outputs],
            "warnings": self.warnings(),
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

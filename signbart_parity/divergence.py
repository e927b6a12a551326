"""Where do PyTorch and a TFLite file part ways? Stage-by-stage divergence localisation.

``SignBart.stages`` names every stage in order (projection_x, projection_y, encoder layers,
decoder layers, pooled, logits). Two ways to get the TFLite side of each stage:

1. ``localise_in_file`` (what ``verify`` uses): run the given .tflite with
   ``experimental_preserve_all_tensors=True`` and no delegate (a delegate computes its
   partitions internally, leaving intermediate tensors unfilled), then match each PyTorch
   stage to the file's closest float tensor of the same size. It needs no conversion and
   works on ANY file, including one exported from a model we do not have (a broken export
   under test is exactly that). The converter fuses some stages away; the projections, for
   one, become ``x @ W + (bias + positions)``, so no tensor holds them. A stage the file does
   not show is reported as "not visible" and, when a later stage agrees, it evidently
   agreed too. The first divergence is the stage after the last agreeing one.
2. ``localise_with_debug_export``: convert the checkpoint's own model with every stage as an
   output and compare output by output. This localises the converter's numerics for this
   checkpoint (costs a conversion, ~6-8 s); it cannot say anything about a foreign file,
   whose model is not the checkpoint's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from signbart_parity.model import SignBart

# A stage agrees when max |tflite - torch| <= rtol x the stage's scale (its largest |value|,
# at least 1). fp32 conversion differs by ~2e-7 of scale per stage (measured); a 0.5% weight
# change moves encoder_layer_0 by ~1e-3 of scale. Dynamic int8 stages differ by ~0.5%.
STAGE_RTOL = {
    "none": 2e-5,
    "fp16": 5e-3,
    "weight-only-int8": 3e-2,
    "dynamic-int8": 5e-2,
    "static-int8": 0.25,
}


@dataclass
class StageMatch:
    """One stage: the closest TFLite tensor found and how far it is from PyTorch's."""

    stage: str
    max_abs_err: float | None  # None: no tensor of this size in the file
    scale: float
    agrees: bool
    tensor: str = ""

    def to_dict(self) -> dict:
        return {
            "stage": self.stage,
            "max_abs_err": self.max_abs_err,
            "scale": self.scale,
            "agrees": self.agrees,
            "tensor": self.tensor,
        }


@dataclass
class Divergence:
    """Stage-by-stage comparison; ``first`` is the first diverging stage (None: none)."""

    method: str
    stages: list[StageMatch] = field(default_factory=list)
    first: str | None = None
    not_visible: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "first": self.first,
            "not_visible": self.not_visible,
            "stages": [stage.to_dict() for stage in self.stages],
        }

    def summary(self) -> str:
        """One line, e.g. ``first divergence: encoder_layer_0 (max abs err 0.31; ...)``."""
        if self.first is None:
            agreeing = [s for s in self.stages if s.agrees]
            worst = max((s.max_abs_err or 0.0 for s in agreeing), default=0.0)
            return f"no divergence: all {len(agreeing)} visible stages agree to {worst:.1g}"
        index = [s.stage for s in self.stages].index(self.first)
        diverging = self.stages[index]
        err = (
            f"max abs err {diverging.max_abs_err:.3g}"
            if diverging.max_abs_err is not None
            else "no tensor of its size"
        )
        before = [s for s in self.stages[:index] if s.agrees]
        notes = []
        if before:
            worst = max(s.max_abs_err or 0.0 for s in before)
            notes.append(f"{_names(s.stage for s in before)} agree to {worst:.1g}")
        hidden = [name for name in self.not_visible if name in _names_list(self.stages[:index])]
        if hidden:
            notes.append(f"{_names(hidden)} fused by the converter, not visible")
        tail = f"; {'; '.join(notes)}" if notes else ""
        return f"first divergence: {self.first} ({err}{tail})"


def _names_list(stages: list[StageMatch]) -> list[str]:
    return [s.stage for s in stages]


def _names(names) -> str:
    """Compact stage list: projection_x/y, encoder_layer_0-1, ..."""
    names = list(names)
    groups: dict[str, list[str]] = {}
    for name in names:
        match = re.fullmatch(r"(.*?)_?(\d+|x|y)", name)
        prefix, suffix = (match.group(1), match.group(2)) if match else (name, "")
        groups.setdefault(prefix, []).append(suffix)
    parts = []
    for prefix, suffixes in groups.items():
        if suffixes == [""]:
            parts.append(prefix)
        elif all(s.isdigit() for s in suffixes) and len(suffixes) > 1:
            parts.append(f"{prefix}_{suffixes[0]}-{suffixes[-1]}")
        else:
            parts.append(f"{prefix}_{'/'.join(suffixes)}")
    return ", ".join(parts)


# ---------------------------------------------------------------- PyTorch side


def reference_stages(
    model: SignBart, keypoints: np.ndarray, attention_mask: np.ndarray
) -> dict[str, np.ndarray]:
    """PyTorch's stage outputs for a batch, as float32 numpy arrays, in order."""
    import torch

    with torch.no_grad():
        stages = model.stages(
            torch.as_tensor(np.asarray(keypoints, dtype=np.float32)),
            torch.as_tensor(np.asarray(attention_mask, dtype=np.int64)),
        )
    return {name: value.float().numpy() for name, value in stages.items()}


def stage_forms(model: SignBart, reference: Mapping[str, np.ndarray]) -> dict[str, list]:
    """Each stage's value, plus the forms the converter is known to leave in a file instead.

    litert-torch folds the projection's bias into the position-embedding add, so a file
    holds ``x @ W`` and ``x @ W + bias + positions`` but never the projection itself.
    """
    from signbart_parity.model import POSITION_OFFSET

    forms = {name: [value] for name, value in reference.items()}
    length = reference["projection_x"].shape[1]
    for axis, linear, stack in (
        ("x", model.projection.proj_x1, model.encoder),
        ("y", model.projection.proj_y1, model.decoder),
    ):
        value = reference[f"projection_{axis}"]
        rows = stack.embed_positions.weight[POSITION_OFFSET : POSITION_OFFSET + length]
        positions = rows.detach().float().numpy()
        bias = linear.bias.detach().float().numpy()
        forms[f"projection_{axis}"] += [value + positions, value - bias]
    return forms


def influential_frames(attention_mask: np.ndarray) -> np.ndarray:
    """Frames whose stage values can reach the logits: the valid ones (frame 0 if none).

    Padded frames are masked out as keys everywhere and never pooled, so what a runtime
    leaves in them (PyTorch and TFLite differ there on near-empty masks) does not matter.
    """
    valid = np.flatnonzero(np.asarray(attention_mask).reshape(-1))
    return valid if len(valid) else np.array([0])


def compare_stages(
    forms: Mapping[str, list[np.ndarray]],
    candidates: Mapping[str, list[tuple[str, np.ndarray]]],
    *,
    frames: np.ndarray,
    precision: str,
    method: str,
) -> Divergence:
    """Match each stage with its closest candidate and find the first divergence.

    ``forms[stage]`` lists acceptable values (the stage first); sequence-shaped stages
    (B, T, D) are compared on ``frames`` only.
    """
    rtol = STAGE_RTOL.get(precision, STAGE_RTOL["none"])
    result = Divergence(method=method)
    for stage, values in forms.items():
        expected_shape = values[0].shape
        picked = [_frames(np.asarray(value, dtype=np.float64), frames) for value in values]
        scale = max(1.0, float(np.abs(picked[0]).max()))
        best: tuple[float, str] | None = None
        for name, value in candidates.get(stage, []):
            if value.size != values[0].size:
                continue
            got = _frames(value.reshape(expected_shape).astype(np.float64), frames)
            for form in picked:
                err = float(np.abs(got - form).max())
                err = err if np.isfinite(err) else float("inf")
                if best is None or err < best[0]:
                    best = (err, name)
        result.stages.append(
            StageMatch(
                stage=stage,
                max_abs_err=None if best is None else best[0],
                scale=scale,
                agrees=best is not None and best[0] <= rtol * scale,
                tensor="" if best is None else best[1],
            )
        )
    agreeing = [i for i, s in enumerate(result.stages) if s.agrees]
    last_ok = agreeing[-1] if agreeing else -1
    if last_ok < len(result.stages) - 1:
        result.first = result.stages[last_ok + 1].stage
    result.not_visible = [s.stage for s in result.stages[: last_ok + 1] if not s.agrees]
    return result


def _frames(value: np.ndarray, frames: np.ndarray) -> np.ndarray:
    return value[:, frames] if value.ndim == 3 else value


# ---------------------------------------------------------------- TFLite side


def file_intermediates(
    path: str | Path,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    *,
    signature: str | None = None,
) -> list[tuple[str, np.ndarray]]:
    """Every float tensor of one invocation of ``path`` on a single example (batch 1): of
    its ``signature`` (the only one when None), or of its only subgraph when it has none."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(path),
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    names = list(interpreter.get_signature_list())
    key = signature or (names[0] if names else None)
    if key is None:
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            value = keypoints if len(detail["shape"]) == 4 else attention_mask
            interpreter.set_tensor(detail["index"], np.ascontiguousarray(value, detail["dtype"]))
        interpreter.invoke()
        subgraph = 0
    else:
        runner = interpreter.get_signature_runner(key)
        feed = {
            name: np.ascontiguousarray(
                keypoints if len(detail["shape"]) == 4 else attention_mask, detail["dtype"]
            )
            for name, detail in runner.get_input_details().items()
        }
        runner(**feed)
        # Signatures are subgraphs in file order (the runner knows its own index).
        subgraph = getattr(runner, "_subgraph_index", names.index(key))
    tensors = []
    for detail in interpreter.get_tensor_details(subgraph):
        if np.dtype(detail["dtype"]) not in (np.float32, np.float16):
            continue
        try:
            value = interpreter.get_tensor(detail["index"], subgraph)
        except ValueError:  # a tensor with no data (e.g. a scratch buffer)
            continue
        with np.errstate(invalid="ignore", over="ignore"):  # scratch tensors hold garbage
            tensors.append((detail["name"], np.array(value, dtype=np.float32)))
    return tensors


def localise_in_file(
    model: SignBart,
    tflite_path: str | Path,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    *,
    precision: str = "none",
    signature: str | None = None,
) -> Divergence:
    """Localise where ``tflite_path`` (its ``signature``, for a bundle) departs from
    ``model`` on ONE example.

    ``keypoints`` (1, T, K, 2) and ``attention_mask`` (1, T): pick an example the file gets
    wrong (the worst one), since a fault shows only on inputs that exercise it.
    """
    reference = reference_stages(model, keypoints, attention_mask)
    tensors = file_intermediates(tflite_path, keypoints, attention_mask, signature=signature)
    return compare_stages(
        stage_forms(model, reference),
        {stage: tensors for stage in reference},
        frames=influential_frames(attention_mask),
        precision=precision,
        method="intermediate tensors of the file",
    )


# ---------------------------------------------------------------- debug export


def stages_module(model: SignBart) -> torch.nn.Module:
    """A module whose outputs are all of ``model.stages`` as a tuple, in order."""
    import torch

    class AllStages(torch.nn.Module):
        def __init__(self, inner: SignBart) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, keypoints: torch.Tensor, attention_mask: torch.Tensor):
            return tuple(self.inner.stages(keypoints, attention_mask).values())

    return AllStages(model).eval()


def export_debug(model: SignBart, *, seq_len: int, output: str | Path) -> list[str]:
    """Convert ``model`` with every stage as an output; returns the stage names in order."""
    from signbart_parity.convert import _quiet_converter, check_seq_len, sample_inputs
    from signbart_parity.errors import ConversionError
    from signbart_parity.fileio import atomic_path

    check_seq_len(model.config, seq_len)
    inputs = sample_inputs(model.config, seq_len)
    names = list(reference_stages(model, inputs[0].numpy(), inputs[1].numpy()))
    with _quiet_converter():
        import litert_torch

        try:
            converted = litert_torch.convert(stages_module(model), inputs)
        except Exception as exc:  # the converter raises many types; report them as one
            raise ConversionError(
                f"litert-torch could not convert the debug (all-stages) model: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    with atomic_path(output) as temp:
        temp.write_bytes(converted.model_content())
    return names


def debug_outputs(
    path: str | Path, keypoints: np.ndarray, attention_mask: np.ndarray
) -> list[np.ndarray]:
    """The debug file's outputs (output_0, output_1, ...) for one batch-1 example."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner()
    feeds = {}
    for key, detail in runner.get_input_details().items():
        value = keypoints if len(detail["shape"]) == 4 else attention_mask
        feeds[key] = np.ascontiguousarray(value, dtype=detail["dtype"])
    outputs = runner(**feeds)
    return [outputs[key] for key in sorted(outputs, key=lambda k: int(k.rsplit("_", 1)[-1]))]


def localise_with_debug_export(
    model: SignBart,
    debug_path: str | Path,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    *,
    precision: str = "none",
) -> Divergence:
    """Compare ``model``'s stages with its own debug export (``export_debug``), in order."""
    reference = reference_stages(model, keypoints, attention_mask)
    outputs = debug_outputs(debug_path, keypoints, attention_mask)
    if len(outputs) != len(reference):
        raise ValueError(
            f"{debug_path}: has {len(outputs)} outputs but the model has {len(reference)} "
            "stages; export it again with export_debug."
        )
    candidates = {
        stage: [(f"output_{i}", value)]
        for i, (stage, value) in enumerate(zip(reference, outputs, strict=True))
    }
    return compare_stages(
        {stage: [value] for stage, value in reference.items()},
        candidates,
        frames=influential_frames(attention_mask),
        precision=precision,
        method="debug export",
    )

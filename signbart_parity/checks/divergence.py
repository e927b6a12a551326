"""Where do PyTorch and a TFLite file part ways? Stage-by-stage divergence localisation.

``SignBart.stages`` names every stage in order (projection_x, projection_y, encoder layers,
decoder layers, pooled, logits). ``localise_in_file`` runs the given .tflite (one signature)
with ``experimental_preserve_all_tensors=True`` and no delegate (a delegate computes its
partitions internally, leaving intermediate tensors unfilled), then matches each PyTorch
stage to the file's closest float tensor of the same size. It needs no conversion and works
on ANY file, including one exported from a model we do not have (a broken export under test
is exactly that). The converter fuses some stages away; the projections, for one, become
``x @ W + (bias + positions)``, so no tensor holds them. A stage the file does not show is
reported as "not visible" and, when a later stage agrees, it evidently agreed too. The first
divergence is the stage after the last agreeing one. How close a stage must be is the
precision's ``Tolerance.stage_rtol`` (``tolerances.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signbart_parity.checks.tolerances import TOLERANCES, tolerance_for
from signbart_parity.runtime.read.inspect import intermediates
from signbart_parity.runtime_specs import parse_runtime_spec

if TYPE_CHECKING:
    from signbart_parity.model.signbart import SignBart


@dataclass
class StageMatch:
    """One stage: the closest TFLite tensor found and how far it is from PyTorch's."""

    stage: str
    max_abs_err: float | None  # None: no tensor of this size in the file
    scale: float
    agrees: bool
    tensor: str = ""


@dataclass
class Divergence:
    """Stage-by-stage comparison; ``first`` is the first diverging stage (None: none)."""

    method: str
    stages: list[StageMatch] = field(default_factory=list)
    first: str | None = None
    not_visible: list[str] = field(default_factory=list)

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
    from signbart_parity.model.signbart import POSITION_OFFSET

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
    rtol = tolerance_for(precision if precision in TOLERANCES else "none").stage_rtol
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


def divergence_line(
    model: SignBart,
    tflite,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    *,
    precision: str,
    where: str = "",
) -> str:
    """The first diverging stage of one signature (a ``TFLiteModel``) on one example, as
    the line failure messages and reports show. A diagnosis: it never raises, so it can
    never hide the verdict it explains."""
    unmeasured = _stages_not_measured(tflite.runtime)
    if unmeasured:
        return unmeasured + (f" [{where}]" if where else "")
    try:
        found = localise_in_file(
            model,
            tflite.path,
            keypoints,
            attention_mask,
            precision=precision,
            signature=tflite.signature_key,
            runtime=tflite.runtime,
        )
    except Exception as exc:
        return f"divergence localisation failed ({type(exc).__name__}: {exc})"
    return found.summary() + (f" [{where}]" if where else "")


def _stages_not_measured(runtime: str) -> str | None:
    """Why stages cannot be compared on ``runtime``: an accelerator keeps no intermediate
    tensors, and reading them from the CPU interpreter instead would say "no divergence"
    about a file the accelerator gets wrong."""
    accelerator = parse_runtime_spec(runtime).on_accelerator
    if accelerator is None:
        return None
    return (
        f"first divergence: stages not measured on the {accelerator.words} (it keeps no "
        "intermediate tensors); the op line compares each op alone there"
    )


def localise_in_file(
    model: SignBart,
    tflite_path: str | Path,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    *,
    precision: str = "none",
    signature: str | None = None,
    runtime: str = "litert",
) -> Divergence:
    """Localise where ``tflite_path`` (its ``signature``, for a bundle) departs from
    ``model`` on ONE example.

    ``keypoints`` (1, T, K, 2) and ``attention_mask`` (1, T): pick an example the file gets
    wrong (the worst one), since a fault shows only on inputs that exercise it.
    """
    reference = reference_stages(model, keypoints, attention_mask)
    tensors = intermediates(
        tflite_path, keypoints, attention_mask, runtime=runtime, signature=signature
    )
    return compare_stages(
        stage_forms(model, reference),
        {stage: tensors for stage in reference},
        frames=influential_frames(attention_mask),
        precision=precision,
        method="intermediate tensors of the file",
    )

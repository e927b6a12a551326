"""Which operator of a failing file departs first: op-level localisation.

The stage line (``divergence.py``) names the model stage where a file parts from PyTorch.
``localise`` names the operator: it runs the file once with every tensor preserved on a
reference (by default the same file in the LiteRT installed here, in process; or another
file, e.g. the checkpoint's fp32 export, matched by tensor name) and on the failing
runtime (through its own backend: a pinned build's worker, an emulated CPU), then compares
every operator's output two ways:

- **cumulative**: the failing runtime's own value of the tensor, after the whole graph up
  to it ran there (errors of earlier operators carried forward);
- **isolated**: the operator alone (a single-op file cut out of the flatbuffer,
  ``runtime/read/graph.py``), run on the failing runtime through its normal backend and fed
  the reference's own values of its inputs.

An operator departs when its max |difference| exceeds ``stage_rtol`` (the precision's, as
for stages) times its reference value's scale (its largest |value|, at least 1); integer
tensors must match exactly (one step for 8- and 16-bit quantized ones). The first departing
operator of each kind, with its type, output tensor and model stage (the stage names
``divergence.py`` uses), is the finding; the table holds every operator.

An accelerator (the GPU) computes its partitions internally and keeps no intermediate
tensors, so there only the isolated column is measured; the cumulative one is left empty.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from signbart_parity.checks.tolerances import TOLERANCES, tolerance_for
from signbart_parity.errors import Finding, RuntimeCrashed
from signbart_parity.export.flatbuffer import short_name
from signbart_parity.runtime.read.graph import (
    ONE_OP_SIGNATURE,
    Graph,
    OpCutter,
    Operator,
    read_graph,
)
from signbart_parity.runtime.read.inspect import tensor_values
from signbart_parity.runtime.run.tflite import open_backend
from signbart_parity.runtime_specs import parse_runtime_spec

# Integer tensors quantized to 8 or 16 bits may differ by one step between kernels.
_ONE_STEP = {"int8", "uint8", "int16"}


@dataclass
class OpRow:
    """One operator: what it is and how far its output is from the reference's."""

    index: int
    type: str
    output: str  # its (first) output tensor's name
    stage: str  # the model stage it computes toward ("" when its name does not say)
    bound: float
    cumulative_err: float | None = None  # None: not measured (no value on either side)
    isolated_err: float | None = None

    @property
    def cumulative_ratio(self) -> float | None:
        return _ratio(self.cumulative_err, self.bound)

    @property
    def isolated_ratio(self) -> float | None:
        return _ratio(self.isolated_err, self.bound)

    @property
    def departs_cumulative(self) -> bool:
        return self.cumulative_err is not None and self.cumulative_err > self.bound

    @property
    def departs_isolated(self) -> bool:
        return self.isolated_err is not None and self.isolated_err > self.bound

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "output": self.output,
            "stage": self.stage,
            "bound": self.bound,
            "cumulative_max_abs_err": _finite(self.cumulative_err),
            "cumulative_bound_ratio": _finite(self.cumulative_ratio),
            "isolated_max_abs_err": _finite(self.isolated_err),
            "isolated_bound_ratio": _finite(self.isolated_ratio),
            "departs_cumulative": self.departs_cumulative,
            "departs_isolated": self.departs_isolated,
        }


def _ratio(err: float | None, bound: float) -> float | None:
    if err is None:
        return None
    if bound > 0:
        return err / bound
    return 0.0 if err == 0 else float("inf")


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: an unbounded ratio or error is written as 1e300."""
    if value is None:
        return None
    return float(value) if np.isfinite(value) else 1e300


@dataclass
class OpTable:
    """Every operator of one signature compared with the reference, and the first that
    departs cumulatively and in isolation (None: none does)."""

    path: Path
    runtime: str
    reference: str  # in words: "litert on the same file", "litert on <fp32 export>"
    precision: str
    rtol: float
    signature: str | None
    rows: list[OpRow] = field(default_factory=list)
    cumulative_measured: bool = True
    # What the isolated runs fed each operator, and what came out (for the repro bundle).
    isolated_inputs: dict[int, list[np.ndarray]] = field(default_factory=dict, repr=False)
    isolated_observed: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    expected: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    cumulative_observed: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def first_cumulative(self) -> OpRow | None:
        return next((row for row in self.rows if row.departs_cumulative), None)

    @property
    def first_isolated(self) -> OpRow | None:
        return next((row for row in self.rows if row.departs_isolated), None)

    @property
    def first(self) -> OpRow | None:
        """The op a repro is made of: the first that departs in isolation (it is wrong on
        its own), else the first that departs cumulatively."""
        return self.first_isolated or self.first_cumulative

    def lines(self) -> list[str]:
        """What verify prints after the stage line."""
        isolated, cumulative = self.first_isolated, self.first_cumulative
        against = f"against {self.reference}"
        if isolated is None and cumulative is None:
            return [f"no operator departs beyond its bound ({against}, {len(self.rows)} ops)"]
        if isolated is not None and (cumulative is None or cumulative.index == isolated.index):
            return [f"first failing op: {op_words(isolated)}: {error_words(isolated)} ({against})"]
        lines = []
        if cumulative is not None:
            words = f"{op_words(cumulative)}: {error_words(cumulative)} ({against})"
            lines.append(f"first failing op (cumulative): {words}")
        if isolated is not None:
            lines.append(
                f"first failing op (isolated): {op_words(isolated)}: " + error_words(isolated)
            )
        elif any(row.isolated_err is not None for row in self.rows):
            lines.append("no operator departs in isolation: the departure builds up over ops")
        return lines

    def to_dict(self) -> dict[str, Any]:
        first_c, first_i = self.first_cumulative, self.first_isolated
        return {
            "file": str(self.path),
            "signature": self.signature,
            "runtime": self.runtime,
            "reference": self.reference,
            "precision": self.precision,
            "stage_rtol": self.rtol,
            "cumulative_measured": self.cumulative_measured,
            "first_cumulative": None if first_c is None else first_c.index,
            "first_isolated": None if first_i is None else first_i.index,
            "lines": self.lines(),
            "ops": [row.to_dict() for row in self.rows],
        }

    def node_data(self) -> dict[str, Any]:
        """Model Explorer's node data for one graph: per output tensor name, the op's
        worst bound ratio (cumulative or isolated); green within the bound, red over it."""
        results = {}
        for row in self.rows:
            ratios = [r for r in (row.cumulative_ratio, row.isolated_ratio) if r is not None]
            if ratios and row.output:
                results[row.output] = {"value": _finite(max(ratios))}
        return {
            "results": results,
            "thresholds": [
                {"value": 0.5, "bgColor": "#c8e6c9"},
                {"value": 1.0, "bgColor": "#fff59d"},
                {"value": 1e301, "bgColor": "#ef9a9a"},
            ],
        }


def _short(name: str) -> str:
    return short_name(name.encode()).decode(errors="replace")


def op_words(row: OpRow) -> str:
    stage = row.stage or "stage unknown"
    return f"{row.type} (op {row.index}, tensor '{_short(row.output)}', {stage})"


def error_words(row: OpRow) -> str:
    parts = []
    for kind, err, ratio in (
        ("isolated", row.isolated_err, row.isolated_ratio),
        ("cumulative", row.cumulative_err, row.cumulative_ratio),
    ):
        if err is not None:
            parts.append(f"{kind} max abs err {err:.3g} ({ratio:.3g}x bound)")
        else:
            parts.append(f"{kind} not measured")
    return ", ".join(parts)


# ---------------------------------------------------------------- stages


_LAYER = re.compile(r"(Encoder|Decoder)Layer_(\d+)")


def op_stages(graph: Graph) -> dict[int, str]:
    """Op index -> the model stage (``SignBart.stages``' names) it computes toward, read
    from litert-torch's tensor names (module paths); "" when a name does not say."""
    stages = {op.index: _stage_of(graph.names[op.outputs[0]]) for op in graph.operators}
    for op in graph.operators:
        if set(op.outputs) & set(graph.outputs):
            stages[op.index] = "logits"
        elif stages[op.index] == "projection":
            stages[op.index] = _projection_axis(graph, op, stages)
    return stages


def _stage_of(name: str) -> str:
    layer = _LAYER.search(name)
    if "Projection_projection" in name and layer is None:
        if "Encoder_encoder" in name:
            return "projection_x"
        return "projection_y" if "Decoder_decoder" in name else "projection"
    if layer is not None:
        return f"{layer.group(1).lower()}_layer_{layer.group(2)}"
    if "Encoder_encoder" in name:
        return "encoder_layer_0"  # the embedding layer norm and the mask, before layer 0
    if "Decoder_decoder" in name:
        return "decoder_layer_0"
    return "pooled" if "SignBart_inner" in name else ""


def _projection_axis(graph: Graph, op: Operator, stages: dict[int, str]) -> str:
    """x when the projection's value flows into the encoder, y into the decoder."""
    consumers: dict[int, list[Operator]] = {}
    for other in graph.operators:
        for tensor in other.inputs:
            consumers.setdefault(tensor, []).append(other)
    queue, seen = deque(op.outputs), set()
    while queue:
        tensor = queue.popleft()
        for consumer in consumers.get(tensor, []):
            if consumer.index in seen:
                continue
            seen.add(consumer.index)
            stage = stages.get(consumer.index, "")
            if stage.startswith(("encoder", "projection_x")):
                return "projection_x"
            if stage.startswith(("decoder", "projection_y")):
                return "projection_y"
            queue.extend(consumer.outputs)
    return "projection"


# ---------------------------------------------------------------- comparing


def max_abs_err(expected: np.ndarray, observed: np.ndarray) -> float:
    """max |observed - expected| (inf on a shape mismatch, or a NaN or Inf on one side
    only; equal non-finite values agree)."""
    expected, observed = np.asarray(expected), np.asarray(observed)
    if expected.size != observed.size:
        return float("inf")
    a = expected.astype(np.float64).reshape(-1)
    b = observed.astype(np.float64).reshape(-1)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if same.all():
        return 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a[~same] - b[~same])
    return float(np.nanmax(np.where(np.isfinite(diff), diff, np.inf)))


def op_bound(expected: np.ndarray, dtype: str, rtol: float) -> float:
    """How far an op's output may be from the reference's: rtol x scale for floats."""
    if dtype in _ONE_STEP:
        return 1.0
    if np.asarray(expected).dtype.kind in "iub":
        return 0.0
    finite = np.asarray(expected, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    return rtol * scale


# ---------------------------------------------------------------- the entry point


def localise(
    tflite_path: str | Path,
    runtime: str,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    *,
    signature: str | None = None,
    precision: str = "none",
    reference_path: str | Path | None = None,
    reference_runtime: str = "litert",
    isolated: bool = True,
) -> OpTable:
    """Compare every operator of ``tflite_path`` (its ``signature``) run on ``runtime``
    with a reference, on one example (batch 1: ``keypoints`` (1, T, K, 2),
    ``attention_mask`` (1, T)); pick one the file gets wrong.

    The reference is ``reference_path`` (default: the same file) run on
    ``reference_runtime`` in process; tensors of another file are matched op by op when
    both hold the same operators in order, else by name and shape. ``isolated`` also
    runs each operator alone on ``runtime`` (a single-op file fed the reference's input
    values).

    Raises:
        TFLiteFileError: a file whose graph cannot be read.
        ValueError, RuntimeError: the runtime refused the file or failed running it.
    """
    spec = parse_runtime_spec(runtime)
    graph = read_graph(tflite_path, signature)
    same_file = reference_path is None or Path(reference_path) == Path(tflite_path)
    ref_graph = graph if same_file else read_graph(reference_path)
    known = precision if precision in TOLERANCES else "none"
    rtol = tolerance_for(known, str(spec)).stage_rtol  # wider for the GPU's fp16
    where = "the same file" if same_file else str(reference_path)
    table = OpTable(
        path=Path(tflite_path),
        runtime=str(spec),
        reference=f"{reference_runtime} on {where}",
        precision=precision,
        rtol=rtol,
        signature=signature,
        cumulative_measured=spec.on_accelerator is None,
    )
    wanted = _tensors_wanted(graph)
    to_reference = _index_map(graph, ref_graph, same_file)
    asked = [to_reference[t] for t in wanted if t in to_reference]
    ref_signature = signature if same_file else None
    values = _values(
        ref_graph.path, keypoints, attention_mask, asked, reference_runtime, ref_signature
    )
    reference = {t: values[to_reference[t]] for t in wanted if to_reference.get(t) in values}
    observed = {}
    if table.cumulative_measured:
        observed = _values(graph.path, keypoints, attention_mask, wanted, str(spec), signature)
    stages = op_stages(graph)
    for op in graph.operators:
        output = op.outputs[0]
        if output not in reference:
            continue
        expected = reference[output]
        row = OpRow(
            op.index,
            op.type,
            graph.names[output],
            stages.get(op.index, ""),
            op_bound(expected, graph.dtypes[output], rtol),
        )
        if output in observed:
            row.cumulative_err = max_abs_err(expected, observed[output])
            table.cumulative_observed[op.index] = observed[output]
        table.rows.append(row)
        table.expected[op.index] = expected
    if isolated:
        _run_isolated(table, graph, reference, str(spec), signature)
    return table


def _tensors_wanted(graph: Graph) -> list[int]:
    tensors = {t for op in graph.operators for t in (*op.inputs, *op.outputs) if t >= 0}
    return sorted(tensors - graph.constant)


def _index_map(graph: Graph, reference: Graph, same_file: bool) -> dict[int, int]:
    """Tensor index in ``graph`` -> index of the same tensor in ``reference``.

    The same file: itself. Two graphs with the same operators in the same order (a
    seeded fault, another export of the same model): position by position. Otherwise by
    name (without the Python package paths, which move with the code that exported it)
    and shape, for names that occur once."""
    if same_file:
        return {t: t for t in range(len(graph.names))}
    mapping = dict(zip(graph.inputs, reference.inputs, strict=False))  # the model's inputs
    if [op.type for op in graph.operators] == [op.type for op in reference.operators]:
        for mine, theirs in zip(graph.operators, reference.operators, strict=True):
            for a, b in zip(mine.outputs, theirs.outputs, strict=False):
                if graph.shapes[a] == reference.shapes[b]:
                    mapping[a] = b
        return mapping
    names = [_short(name) for name in reference.names]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    by_name = {
        name: index
        for index, name in enumerate(names)
        if counts[name] == 1 and index not in reference.constant
    }
    for index, name in enumerate(graph.names):
        other = by_name.get(_short(name))
        if other is not None and reference.shapes[other] == graph.shapes[index]:
            mapping.setdefault(index, other)
    return mapping


def _values(path, keypoints, attention_mask, indices, runtime, signature):
    return tensor_values(
        path, keypoints, attention_mask, indices, runtime=runtime, signature=signature
    )


def _run_isolated(table: OpTable, graph: Graph, reference: dict, runtime: str, signature):
    """Each operator alone on ``runtime``, fed the reference's values of its inputs."""
    rows = {row.index: row for row in table.rows}
    cutter = OpCutter(graph.path, signature)
    with tempfile.TemporaryDirectory(prefix="signbart-ops-") as folder:
        for op in graph.operators:
            row = rows.get(op.index)
            feeds = [reference.get(t) for t in graph.variable_inputs(op)]
            if row is None or any(value is None for value in feeds):
                continue
            path = Path(folder) / f"op{op.index}.tflite"
            path.write_bytes(cutter.cut(op.index))
            try:
                got = run_one_op(path, runtime, feeds)
            except RuntimeCrashed:  # the op alone kills the runtime: it departs, unbounded
                row.isolated_err = float("inf")
                continue
            except _refusals():  # an op the runtime (or accelerator) will not run alone
                continue
            row.isolated_err = max_abs_err(table.expected[op.index], got)
            table.isolated_inputs[op.index] = feeds
            table.isolated_observed[op.index] = got


def _refusals() -> tuple[type[Exception], ...]:
    """What a runtime raises for a one-op file it will not load or run (not a finding)."""
    refused: list[type[Exception]] = [ValueError, RuntimeError, Finding]
    module = sys.modules.get("signbart_parity.runtime.gpu")  # imported only on the GPU lane
    if module is not None:
        refused.append(module.GpuRefused)
    return tuple(refused)


def run_one_op(path: str | Path, runtime: str, feeds: list[np.ndarray]) -> np.ndarray:
    """Run a single-op file (``cut_op``'s) on ``runtime`` through its normal backend (a
    worker for a pinned build, the accelerator for ``@gpu``, XNNPACK on) and return its
    output as the runtime gives it."""
    backend = open_backend(path, runtime)
    inputs, _ = backend.open(ONE_OP_SIGNATURE)
    by_key = {f"input_{i:02d}": value for i, value in enumerate(feeds)}  # cut_op's names
    values = [
        np.ascontiguousarray(by_key[detail["key"]], dtype=np.dtype(detail["dtype"]))
        for detail in inputs
    ]
    return np.array(backend.run(values))

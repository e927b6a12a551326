"""Repair: the smallest quantized file that passes every target the app ships.

Candidates are quantizer recipes (``export/recipes.py``) applied to the model's fp32 file.
They are judged smallest first, so the first that passes every target is the smallest that
passes. A file is built (about a second) only when it could be the smallest left (a recipe
adding a fallback to another is never smaller than it), and files with the same bytes are
judged once. A candidate passes a target when verify's checks pass there
(``checks/verify.py``'s ``verify_files``: one measurement, the rule in one place). The
search stops at the first passing candidate or when the time budget is spent.

Guidance: where a candidate fails, the first diverging stage (``divergence.py``'s stage
localisation, on verify's worst failing example) names a stage of the model; candidates
that change that stage go first among files of the same size. ``suspect_scopes`` is the
seam where an op-level table would name the op and its stage instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.checks.divergence import localise_in_file
from signbart_parity.checks.verify import verify_files, worst_example
from signbart_parity.errors import Finding, ToolchainError
from signbart_parity.export.provenance import stamp
from signbart_parity.export.quantize import quantize_file
from signbart_parity.export.recipes import Recipe, candidates
from signbart_parity.fileio import atomic_path
from signbart_parity.runtime.read.operators import builtin_operator_names, operator_name
from signbart_parity.runtime.read.precision import read_precision
from signbart_parity.runtime.run.tflite import TFLiteModel

if TYPE_CHECKING:
    from signbart_parity.checks.verify import SignatureCheck
    from signbart_parity.export.exporter import Exporter
    from signbart_parity.model.signbart import SignBart

# The precisions repair searches recipes for (weights quantized without calibration).
REPAIRABLE = ("dynamic-int8", "weight-only-int8")
_WEIGHTED_OPS = ("FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D")
Progress = Callable[[str], None]


@dataclass
class TargetVerdict:
    """One candidate on one target: verify's checks there, summed up."""

    runtime: str
    passed: bool
    bound_ratio: float  # the worst check's error as a multiple of its bound (>1 fails)
    top1: float | None  # parity's top-1 agreement with PyTorch (worst signature)
    stage: str | None = None  # where a failing candidate first departs (divergence.py)
    note: str = ""  # the runtime build crashed or refused the file (``Finding.label``)
    message: str = ""  # and what it said

    @property
    def headroom(self) -> str:
        """How much of the bound the worst check left unused, or how far over it went."""
        if self.note:
            return self.note
        if self.bound_ratio <= 1:
            return f"{1 - self.bound_ratio:.0%}"
        return f"over {self.bound_ratio:.3g}x"


@dataclass
class Candidate:
    recipe: Recipe
    path: Path
    size_bytes: int
    rank: int = 0  # its place in the search space's order (ties of size go by it)
    verdicts: list[TargetVerdict] = field(default_factory=list)

    @property
    def judged(self) -> bool:
        return bool(self.verdicts)

    @property
    def passed(self) -> bool:
        return self.judged and all(v.passed for v in self.verdicts)

    @property
    def worst_ratio(self) -> float:
        return max((v.bound_ratio for v in self.verdicts), default=float("inf"))


@dataclass
class RepairResult:
    tried: list[Candidate]  # judged, in the order they were tried
    left: list[Recipe]  # not judged (no smaller than the chosen one, or no time), smallest first
    chosen: Candidate | None
    out_of_time: bool

    @property
    def best(self) -> Candidate | None:
        """The chosen candidate, else the judged one closest to passing."""
        if self.chosen is not None:
            return self.chosen
        return min(self.tried, key=lambda c: c.worst_ratio, default=None)


@dataclass(frozen=True)
class Judge:
    """How each candidate is judged: verify's checks, its defaults, on every target."""

    model: SignBart
    quantization: str
    runtimes: tuple[str, ...]
    examples: int
    seed: int
    judge_outside: bool = False  # examples outside the app contract decide too (as verify's)


@dataclass
class Repaired:
    """One repair: the search, the fp32 file's size and the file written (None: none
    passed, nothing written)."""

    result: RepairResult
    fp32_bytes: int
    written: Path | None


def repair_to(
    output: Path,
    judge: Judge,
    *,
    exporter: Exporter,
    lengths: tuple[int, ...],
    deadline: float,
    progress: Progress,
) -> Repaired:
    """Export the fp32 file of ``lengths`` (through ``exporter``'s cache), search until
    ``deadline`` and write the chosen candidate to ``output`` atomically, its recipe in
    the provenance stamp; nothing is written when none passes."""
    fp32 = exporter.export(lengths, "none")
    with tempfile.TemporaryDirectory(prefix="signbart-parity-repair-") as folder:
        result = search(fp32.path, judge, folder=Path(folder), deadline=deadline, progress=progress)
        if result.chosen is None:
            return Repaired(result, fp32.size_bytes, None)
        write_chosen(result.chosen, exporter, lengths, judge.quantization, output)
    return Repaired(result, fp32.size_bytes, output)


def write_chosen(
    chosen: Candidate, exporter: Exporter, lengths: tuple[int, ...], quantization: str, output
) -> None:
    """The chosen candidate, stamped with its recipe, moved into place atomically."""
    provenance = exporter.provenance(tuple(lengths), quantization)
    stamp(chosen.path, dataclasses.replace(provenance, recipe=chosen.recipe.text))
    with atomic_path(output) as temp:
        temp.write_bytes(chosen.path.read_bytes())


def search(
    fp32_path: Path,
    judge: Judge,
    *,
    folder: Path,
    deadline: float,
    progress: Progress,
    suspects: Iterable[str] = (),
    recipes: Sequence[Recipe] | None = None,
) -> RepairResult:
    """Judge the candidates for ``judge.quantization``, made from ``fp32_path`` in
    ``folder``, smallest first until one passes every target or ``deadline`` (a
    ``time.monotonic()`` value) passes. ``recipes`` narrows the search space (by default
    ``export/recipes.candidates`` for the file's weighted op types)."""
    if recipes is None:
        ops = weighted_op_types(fp32_path)
        recipes = candidates(judge.quantization, ops, suspects=suspects)
    progress(
        f"{len(recipes)} candidate recipes from {fp32_path.name}; each is built only when "
        "it could be the smallest left"
    )
    builder = CandidateBuilder(fp32_path, judge.quantization, folder, progress)
    unbuilt, built, tried = list(recipes), [], []
    while unbuilt or built:
        smallest = min((c.size_bytes for c in built), default=None)
        floor = min(unbuilt, key=builder.floor, default=None)
        if floor is not None and (smallest is None or builder.floor(floor) < smallest):
            unbuilt.remove(floor)
            built += builder.build(floor)
            continue
        if time.monotonic() >= deadline:
            return RepairResult(tried, _left(built, unbuilt), None, out_of_time=True)
        candidate = min(built, key=_size)
        built.remove(candidate)
        progress(
            f"judging candidate {len(tried) + 1} ({candidate.size_bytes / 1e6:.2f} MB): "
            f"{candidate.recipe.text}"
        )
        candidate.verdicts = judge_candidate(candidate.path, judge)
        tried.append(candidate)
        if candidate.passed:
            return RepairResult(tried, _left(built, unbuilt), candidate, out_of_time=False)
        rerank(built, suspect_scopes(v.stage for v in candidate.verdicts if v.stage))
    return RepairResult(tried, [], None, out_of_time=False)


def _size(candidate: Candidate) -> tuple[int, int]:
    return (candidate.size_bytes, candidate.rank)


def _left(built: list[Candidate], unbuilt: list[Recipe]) -> list[Recipe]:
    """What was not judged: the files built, smallest first, then the recipes not built."""
    return [c.recipe for c in sorted(built, key=_size)] + unbuilt


class CandidateBuilder:
    """Candidate files, made on demand, each distinct content once, kept only while they
    still hold the precision asked for (read from the file, as verify reads it).

    ``floor`` is what a recipe's file weighs at least: a recipe that adds a fallback rule
    to another recipe (``export/recipes.candidates``) is never smaller than it (the
    fallbacks store weights in as many bytes or more), so it waits until that size is the
    smallest left."""

    def __init__(self, fp32_path: Path, quantization: str, folder: Path, progress) -> None:
        self.fp32_path, self.quantization, self.folder = fp32_path, quantization, folder
        self._say = progress
        self.sizes: dict[Recipe, int] = {}
        self._seen: set[str] = set()

    def floor(self, recipe: Recipe) -> int:
        return self.sizes.get(Recipe(recipe.rules[:-1]), 0)

    def build(self, recipe: Recipe) -> list[Candidate]:
        path = self.folder / f"candidate-{len(self.sizes) + 1}.tflite"
        try:
            quantize_file(
                self.fp32_path, output=path, quantization=self.quantization, recipe=recipe
            )
        except ToolchainError as exc:  # the quantizer refuses this recipe: not a candidate
            self._say(f"the quantizer refused {recipe.text}: {exc}")
            return []
        self.sizes[recipe] = path.stat().st_size
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in self._seen or read_precision(path).quantization != self.quantization:
            path.unlink()
            return []
        self._seen.add(digest)
        return [Candidate(recipe, path, self.sizes[recipe], rank=len(self.sizes))]


def judge_candidate(path: Path, judge: Judge) -> list[TargetVerdict]:
    """Verify's checks of ``path`` on each target, in order, until one fails (the rest
    are not judged: the candidate has failed)."""
    verdicts = []
    for runtime in judge.runtimes:
        verdict = judge_on(path, runtime, judge)
        verdicts.append(verdict)
        if not verdict.passed:
            break
    return verdicts


def judge_on(path: Path, runtime: str, judge: Judge) -> TargetVerdict:
    try:
        files = [
            TFLiteModel(path, runtime=runtime, signature=name)
            for name in TFLiteModel.names_in(path)
        ]
        found = verify_files(
            files,
            judge.model,
            quantization=judge.quantization,
            examples=judge.examples,
            seed=judge.seed,
            judge_outside=judge.judge_outside,
        )
    except Finding as exc:  # the build crashed on the file or refused it: a failed target
        message = str(exc).strip().split("\n", 1)[0]
        return TargetVerdict(runtime, False, float("inf"), None, note=exc.label, message=message)
    ratios = [check.comparison.bound_ratio for each in found for check in each.checks]
    parity = [
        c.comparison.top1_agreement for each in found for c in each.checks if c.name == "parity"
    ]
    passed = all(each.passed for each in found)
    stage = None if passed else first_diverging_stage(judge, found)
    return TargetVerdict(runtime, passed, max(ratios), min(parity, default=None), stage)


def first_diverging_stage(judge: Judge, found: list[SignatureCheck]) -> str | None:
    """The stage where the first failing signature departs, on verify's worst failing
    example (``None`` when it cannot be told: a diagnosis never hides the verdict)."""
    failing = next(each for each in found if not each.passed)
    check = next((c for c in failing.checks if not c.passed and c.name != "determinism"), None)
    if check is None:
        return None
    index = worst_example(check)
    try:
        divergence = localise_in_file(
            judge.model,
            failing.tflite.path,
            check.keypoints[index : index + 1],
            check.masks[index : index + 1],
            precision=judge.quantization,
            signature=failing.tflite.signature.name or None,
            runtime=failing.tflite.runtime,
        )
    except Exception:  # noqa: BLE001 - see the docstring
        return None
    return divergence.first


def suspect_scopes(stages: Iterable[str]) -> list[str]:
    """The recipe scopes (``export/recipes.SCOPES``) the given model stages lie in.

    Today's evidence is ``divergence.py``'s stage names (projection_x, encoder_layer_0,
    ..., pooled, logits); an op-level table naming an op's stage maps the same way."""
    scopes = []
    for stage in stages:
        if stage.startswith("projection"):
            scopes.append("projection")
        elif re.match(r"(encoder|decoder)", stage):
            scopes.append(stage.split("_", 1)[0])
        elif stage in ("pooled", "logits"):
            scopes.append("head")
    return list(dict.fromkeys(scopes))


def rerank(pending: list[Candidate], scopes: list[str]) -> None:
    """Among files of equal size, the candidates that change a suspect stage go first."""
    for candidate in pending:
        touched = [rule.scope for rule in candidate.recipe.rules]
        hits = [scopes.index(s) for s in touched if s in scopes]
        if hits:
            candidate.rank = -len(scopes) + min(hits)


def weighted_op_types(path: Path) -> list[str]:
    """The matmul-like op types of ``path`` with a constant weight (what the quantizer
    quantizes), in the order they first appear."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    names = builtin_operator_names(schema)
    found = []
    for index in range(model.SubgraphsLength()):
        graph = model.Subgraphs(index)
        for position in range(graph.OperatorsLength()):
            op = graph.Operators(position)
            name = operator_name(model.OperatorCodes(op.OpcodeIndex()), names)
            if name in _WEIGHTED_OPS and op.InputsLength() > 1 and op.Inputs(1) >= 0:
                buffer = model.Buffers(graph.Tensors(op.Inputs(1)).Buffer())
                if buffer.DataLength() or buffer.Size():
                    found.append(name)
    return list(dict.fromkeys(found))

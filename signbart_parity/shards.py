"""Splitting the gate's target matrix (seq_len x precision x runtime) across N CI jobs.

The split is a pure function of the targets and N (``plan``), so every job computes the
same one: shard K runs ``plan(...)[K - 1]``. It is balanced by expected cost, counted in
rough seconds on a 2-core machine: a litert-torch conversion per seq_len (or one for a
bundle), a quantization per other precision of it, plus a run cost per target that is
higher for pinned builds (their own environment, out of process), the GPU lane (software
Vulkan) and emulated arm64. The targets of one conversion stay in one shard as long as
there are at least N conversions, so no two shards convert the same file; a group is split
(along precisions) only when there are fewer conversions than shards, or for a target that
costs more to run than a conversion (emulated arm64): then each of those shards converts
that seq_len (or finds it in a restored export cache). Nothing heavy is imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from signbart_parity.targets import Target

# Relative weights: only how they compare matters (2026-12, 2-core machine: a conversion took
# about 6 s, plus 2.9 s to import litert-torch once per process).
CONVERSION_COST = 20.0  # one litert-torch conversion to fp32
QUANTIZATION_COST = 5.0  # one other precision, quantized from that fp32 file
IN_PROCESS_COST = 5.0  # every check of one target in this process
PINNED_COST = 15.0  # a pinned build: its own environment and worker process
GPU_COST = 20.0  # the GPU lane: software Vulkan (lavapipe) on a machine without a GPU
EMULATED_COST = 120.0  # @arm64: qemu, about a second a call


def run_cost(target: Target) -> float:
    """Expected cost of every check of one target, its files left out."""
    spec = target.spec
    if spec.arch is not None:
        return EMULATED_COST
    if spec.gpu:
        return GPU_COST
    return IN_PROCESS_COST if spec.installed else PINNED_COST


def conversion_key(target: Target, bundle: bool) -> tuple:
    """The fp32 conversion a target's file comes from: its seq_len's, or the bundle's (one
    file holds every seq_len). Every precision is quantized from that fp32 file."""
    return () if bundle else (target.seq_len,)


@dataclass(frozen=True)
class _Unit:
    """Targets that go to one shard together, and the conversion they share."""

    key: tuple
    targets: tuple[Target, ...]

    @property
    def cost(self) -> float:
        quantized = {t.quantization for t in self.targets} - {"none"}
        files = CONVERSION_COST + QUANTIZATION_COST * len(quantized)
        return files + sum(run_cost(t) for t in self.targets)


def plan(targets: Iterable[Target], count: int, *, bundle: bool = False) -> list[list[Target]]:
    """The targets of each of ``count`` shards (index K - 1 for shard K), sorted; the
    same for the same input on every machine. A shard may be empty only when there are
    fewer targets than shards (``fewest_targets`` lets callers refuse that first)."""
    targets = sorted(set(targets))
    groups: dict[tuple, list[Target]] = {}
    for target in targets:
        groups.setdefault(conversion_key(target, bundle), []).append(target)
    units = _split_until(_units(groups), count)
    loads = [0.0] * count
    shards: list[list[Target]] = [[] for _ in range(count)]
    # Longest first, each to the least loaded shard (the lowest index on a tie).
    for unit in sorted(units, key=lambda u: (-u.cost, u.key, u.targets)):
        index = min(range(count), key=lambda i: (loads[i], i))
        loads[index] += unit.cost
        shards[index].extend(unit.targets)
    return [sorted(shard) for shard in shards]


def _units(groups: dict[tuple, list[Target]]) -> list[_Unit]:
    """A unit per conversion; a target that costs more to run than a conversion (emulated
    arm64) is a unit of its own: converting twice is cheaper than queueing it."""
    units = []
    for key, members in sorted(groups.items()):
        alone = [t for t in members if run_cost(t) > CONVERSION_COST]
        together = tuple(t for t in members if t not in alone)
        units += [_Unit(key, (t,)) for t in alone] + ([_Unit(key, together)] if together else [])
    return units


def _split_until(units: list[_Unit], count: int) -> list[_Unit]:
    """Split the costliest group of several targets in two until there are ``count``
    units or no group can be split."""
    units = list(units)
    while len(units) < count:
        splittable = [u for u in units if len(u.targets) > 1]
        if not splittable:
            break
        largest = max(splittable, key=lambda u: (u.cost, u.key))
        # Halves along precisions, so that each quantized file stays in one shard.
        ordered = sorted(largest.targets, key=lambda t: (t.quantization, run_cost(t), t))
        half = len(ordered) // 2
        units.remove(largest)
        units += [_Unit(largest.key, tuple(part)) for part in (ordered[:half], ordered[half:])]
    return units


def shard_of(target: Target, shards: Sequence[Sequence[Target]]) -> int | None:
    """The shard number (1-based) that runs ``target``; None if none does."""
    for index, members in enumerate(shards):
        if target in members:
            return index + 1
    return None


def shard_text(shard: tuple[int, int]) -> str:
    """``2/3``: how options, reports and people name a shard."""
    return f"{shard[0]}/{shard[1]}"

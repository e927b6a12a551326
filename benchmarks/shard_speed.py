"""Benchmark the gate split into shards against one run, on one machine.

    python benchmarks/shard_speed.py [--shards N] [--rounds R] [-- extra pytest args]

On the embedded default model with the default options (seq_lens 16,64 x fp32,
dynamic-int8 x litert: 4 targets) and the ``ci`` profile, each round times, from an empty
export cache each: one run of the gate, then its N shards (``--parity-shard K/N``) one
after another sharing one cache (as CI jobs that restore one export cache would). The cost
of sharding is the ratio (sum of the shards' times) / (the one run's time): what each extra
pytest process adds (imports, loading the model, timing the files), since the shards
convert no file twice. Prints each round, the median ratio, whether it meets the target
(<= 1.3) and one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATIO_TARGET = 1.3


def run_gate(cache: Path, report: Path, extra: list[str]) -> tuple[float, dict]:
    """One gate process on the default model: (wall seconds, its parity.json). Run outside
    this repository (as a user's CI job runs it), so no conftest of ours is loaded. A gate
    that finds failures (exit 1, a report written) is timed like one that passes: a pinned
    lane fails dynamic-int8 by design."""
    command = [sys.executable, "-m", "pytest", "-q", "--pyargs", "signbart_parity.gate"]
    command += ["-p", "no:cacheprovider", f"--parity-cache={cache}"]
    command += [f"--parity-report={report}", *extra]
    env = os.environ | {"SIGNBART_PARITY_PROFILE": "ci"}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cache.parent, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    written = report / "parity.json"
    if done.returncode not in (0, 1) or not written.is_file():
        sys.exit(f"gate failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return elapsed, json.loads(written.read_text())


def one_round(shards: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="shard-speed-") as scratch:
        scratch = Path(scratch)
        single, report = run_gate(scratch / "cache-one", scratch / "one", extra)
        times, conversions = [], []
        for number in range(1, shards + 1):
            shard_extra = [*extra, f"--parity-shard={number}/{shards}"]
            elapsed, part = run_gate(scratch / "cache-shards", scratch / f"s{number}", shard_extra)
            times.append(elapsed)
            conversions.append(part["conversions"])
    return {
        "single_passed": report["passed"],
        "single_s": round(single, 1),
        "shards_s": [round(t, 1) for t in times],
        "ratio": round(sum(times) / single, 3),
        "single_conversions": report["conversions"],
        "shard_conversions": conversions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("extra", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args()
    rounds = []
    for index in range(args.rounds):
        found = one_round(args.shards, args.extra)
        rounds.append(found)
        print(
            f"round {index + 1}: one run {found['single_s']} s "
            f"({'PASS' if found['single_passed'] else 'FAIL'}, "
            f"{found['single_conversions']} conversions); {args.shards} shards "
            f"{' + '.join(map(str, found['shards_s']))} = {sum(found['shards_s']):.1f} s "
            f"({' + '.join(map(str, found['shard_conversions']))} conversions); "
            f"ratio {found['ratio']}"
        )
    ratio = round(statistics.median(r["ratio"] for r in rounds), 3)
    verdict = "meets" if ratio <= RATIO_TARGET else "misses"
    print(f"median ratio {ratio} {verdict} the target (<= {RATIO_TARGET})")
    print(json.dumps({"shards": args.shards, "ratio": ratio, "rounds": rounds}))


if __name__ == "__main__":
    main()

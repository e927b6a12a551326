"""Benchmark the gate's start-up: ``pytest --collect-only`` of a gate run (options parsed,
model loaded, tests parametrised; nothing exported), here against another checkout of this
repository (for example the previous release, via ``git worktree add``), interleaved in one
run so machine load hits both alike.

    python benchmarks/gate_startup.py --baseline-tree ../previous [--runs 7]

Prints the medians and the ratio (this tree / baseline), and one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def startup_seconds(tree: Path) -> float:
    checkpoint = tree / "signbart_parity" / "data" / "default-arabic-asl.pth"
    config = tree / "signbart_parity" / "data" / "arabic-asl.yaml"
    command = [
        sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
        f"--checkpoint={checkpoint}", f"--config={config}",
    ]  # fmt: skip
    env = os.environ | {"PYTHONPATH": str(tree)}  # that tree's package, not the installed one
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{tree}: collection failed (exit {done.returncode}):\n{done.stdout[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-tree", type=Path, required=True, help="another checkout")
    parser.add_argument("--runs", type=int, default=7, help="runs of each. Default: 7")
    args = parser.parse_args()
    here, there = [], []
    startup_seconds(ROOT)  # warm the file cache once
    for _ in range(args.runs):
        here.append(startup_seconds(ROOT))
        there.append(startup_seconds(args.baseline_tree.resolve()))
    ratio = statistics.median(here) / statistics.median(there)
    print(f"gate start-up here: {statistics.median(here):.2f} s; baseline: "
          f"{statistics.median(there):.2f} s; ratio {ratio:.2f}")  # fmt: skip
    print(json.dumps({"here_s": here, "baseline_s": there, "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()

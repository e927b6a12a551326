"""Benchmark the release gate: a cold run (empty export cache) and a warm run, same options.

    python benchmarks/gate_speed.py [--runs N] [-- extra pytest args]

Runs ``pytest --pyargs signbart_parity.gate`` (the gate alone, default options, the
``ci`` hypothesis profile) in subprocesses and prints wall times, the warm/cold ratio and
whether the targets hold (cold <= 90 s, warm <= 40% of cold). Prints one JSON line last.
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

COLD_TARGET_S = 90.0
WARM_RATIO_TARGET = 0.40


def run_gate(cache: Path, report: Path, extra: list[str]) -> float:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "signbart_parity.gate",
        "-q",
        "-p",
        "no:cacheprovider",
        "--parity-cache",
        str(cache),
        "--parity-report",
        str(report),
        *extra,
    ]
    env = os.environ | {"SIGNBART_PARITY_PROFILE": "ci"}
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"gate failed (exit {completed.returncode}):\n{completed.stdout[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="cold+warm pairs. Default: 1")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments")
    args = parser.parse_args()
    colds, warms = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as scratch:
            cache, report = Path(scratch) / "cache", Path(scratch) / "report"
            colds.append(run_gate(cache, report, args.pytest_args))
            cold_report = json.loads((report / "parity.json").read_text())
            warms.append(run_gate(cache, report, args.pytest_args))
            warm_report = json.loads((report / "parity.json").read_text())
    cold, warm = statistics.median(colds), statistics.median(warms)
    examples = sum(row["examples"] for row in cold_report["results"])
    print(
        f"cold gate: {cold:.1f} s ({cold_report['conversions']} conversions, "
        f"{examples} examples)  target <= {COLD_TARGET_S:.0f} s: "
        f"{'met' if cold <= COLD_TARGET_S else 'MISSED'}"
    )
    print(
        f"warm gate: {warm:.1f} s ({warm_report['conversions']} conversions, "
        f"{warm_report['cache_hits']} cache hits)  warm/cold = {warm / cold:.2f}, "
        f"target <= {WARM_RATIO_TARGET:.2f}: "
        f"{'met' if warm / cold <= WARM_RATIO_TARGET else 'MISSED'}"
    )
    print(
        json.dumps(
            {
                "cold_s": round(cold, 2),
                "warm_s": round(warm, 2),
                "warm_over_cold": round(warm / cold, 3),
                "examples": examples,
                "cold_conversions": cold_report["conversions"],
                "warm_conversions": warm_report["conversions"],
                "load_average": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()

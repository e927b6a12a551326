"""Benchmark the release gate as users run it: at the repository root, naming a checkpoint
and config, cold (empty export cache) and then warm (same options).

    python benchmarks/gate_speed.py [--runs N] [-- extra pytest args]

Each run is ``pytest --checkpoint=... --config=... --parity-cache=... --parity-report=...``
in a subprocess at the repository root (the gate alone: naming a gate option skips the
project's self-tests), on the embedded default model with the default options (seq_lens
16,64 x fp32, dynamic-int8: 4 targets) and the ``ci`` profile. Prints wall times, the
warm/cold ratio (the median of each pair's), whether the targets hold (warm/cold <= 0.25;
cold <= 25 s and warm <= 6 s on the project machine) and one JSON line last.
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
COLD_TARGET_S = 25.0
WARM_TARGET_S = 6.0
RATIO_TARGET = 0.25  # a warm gate (every file in the export cache) against a cold one


def run_gate(cache: Path, report: Path, extra: list[str], *, must_pass: bool = True) -> float:
    from signbart_parity.model.default import DEFAULT_CHECKPOINT, DEFAULT_CONFIG

    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--checkpoint={DEFAULT_CHECKPOINT}",
        f"--config={DEFAULT_CONFIG}",
        f"--parity-cache={cache}",
        f"--parity-report={report}",
        *extra,
    ]
    env = os.environ | {"SIGNBART_PARITY_PROFILE": "ci"}
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode not in ((0,) if must_pass else (0, 1)):
        sys.exit(f"gate failed (exit {completed.returncode}):\n{completed.stdout[-3000:]}")
    return elapsed


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "MISSED"


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
    ratio = statistics.median(w / c for w, c in zip(warms, colds, strict=True))
    examples = sum(row["examples"] for row in cold_report["results"])
    tests = len(cold_report["outcomes"])
    print(
        f"cold gate: {cold:.1f} s ({cold_report['conversions']} conversions, {tests} tests, "
        f"{examples} examples)  target <= {COLD_TARGET_S:.0f} s: {verdict(cold, COLD_TARGET_S)}"
    )
    print(
        f"warm gate: {warm:.1f} s ({warm_report['conversions']} conversions, "
        f"{warm_report['cache_hits']} cache hits)  target <= {WARM_TARGET_S:.0f} s: "
        f"{verdict(warm, WARM_TARGET_S)}"
    )
    print(f"warm/cold: {ratio:.2f}x  target <= {RATIO_TARGET}x: {verdict(ratio, RATIO_TARGET)}")
    print(
        json.dumps(
            {
                "cold_s": round(cold, 2),
                "warm_s": round(warm, 2),
                "warm_over_cold": round(ratio, 3),
                "tests": tests,
                "examples": examples,
                "cold_conversions": cold_report["conversions"],
                "warm_conversions": warm_report["conversions"],
                "load_average": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()

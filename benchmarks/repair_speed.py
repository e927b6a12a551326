"""Benchmark ``signbart-parity repair`` as users run it: the embedded default model,
dynamic-int8, two targets (LiteRT in process and tflite-runtime 2.14 in its worker).

    python benchmarks/repair_speed.py [--seq-len 64] [--runs 2]

Each run is ``signbart-parity repair --seq-len T --quantization dynamic-int8 --runtime
litert,tflite-runtime==2.14.0 --output <tmp>`` in a subprocess. The first run may convert
the fp32 file (cold: "converting to fp32" in its progress); later runs find it in the
export cache (warm). ``$SIGNBART_PARITY_CACHE`` chooses the cache (runtime environments and
exports), as for every command; the 2.14 environment is prepared first if missing.
Prints each run's wall time, whether it was cold, the candidates judged, and one JSON
line last.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = "litert,tflite-runtime==2.14.0"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "signbart_parity.cli", *args], capture_output=True, text=True
    )


def one_run(seq_len: int, folder: Path) -> dict:
    output = folder / f"repaired-{time.monotonic_ns()}.tflite"
    args = ["--seq-len", str(seq_len), "--quantization", "dynamic-int8", "--runtime", TARGETS]
    started = time.perf_counter()
    done = cli("repair", *args, "--output", str(output))
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"repair failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    chosen = re.search(r"recipe: (.*)\); it passes", done.stdout)
    return {
        "seconds": round(seconds, 1),
        "cold": "converting to fp32" in done.stderr,
        "judged": done.stderr.count("judging candidate"),
        "size_bytes": output.stat().st_size,
        "recipe": chosen.group(1) if chosen else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    prepared = cli("runtimes", "prepare", "tflite-runtime==2.14.0")
    if prepared.returncode != 0:
        sys.exit(prepared.stderr)
    runs = []
    with tempfile.TemporaryDirectory(prefix="repair-bench-") as folder:
        for number in range(1, args.runs + 1):
            result = one_run(args.seq_len, Path(folder))
            runs.append(result)
            state = "cold (fp32 converted)" if result["cold"] else "warm (fp32 cached)"
            print(
                f"run {number}: {result['seconds']:.1f} s, {state}, {result['judged']} "
                f"candidate(s) judged, chose {result['recipe']} ({result['size_bytes']} bytes)"
            )
    print(json.dumps({"seq_len": args.seq_len, "targets": TARGETS, "runs": runs}))


if __name__ == "__main__":
    main()

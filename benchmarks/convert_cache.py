"""Benchmark ``signbart-parity convert`` of a file the export cache already holds against a
cold ``convert`` (empty cache), as a user runs both: a fresh process each.

    python benchmarks/convert_cache.py [--runs N] [--seq-len T] [--quantization Q]

Per run, in a new temporary folder: a cold ``convert --cache EMPTY``; then the release gate
(at the repository root, the embedded default model, that seq_len and precision, ``ci``
profile) converting into a second empty cache, untimed; then ``convert --cache`` that
cache, which must say it came from the export cache and write the gate's file byte for byte.
Prints the wall times (medians), the served/cold ratio against its target (<= 0.2x) and
one JSON line last.
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
RATIO_TARGET = 0.2
SERVED = "from the export cache, not converted again: "


def convert(output: Path, cache: Path, seq_len: int, quantization: str) -> tuple[float, str]:
    """One ``convert`` in a fresh process: its wall time and its "wrote" line."""
    command = [
        sys.executable, "-m", "signbart_parity.cli", "convert", "--output", str(output),
        "--cache", str(cache), "--seq-len", str(seq_len), "--quantization", quantization,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"convert failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    (wrote,) = [line for line in done.stdout.splitlines() if line.startswith("wrote ")]
    return elapsed, wrote


def gate(cache: Path, report: Path, seq_len: int, quantization: str) -> Path:
    """The gate on the embedded default, converting into ``cache``; the file it checked."""
    from signbart_parity.model.default import DEFAULT_CHECKPOINT, DEFAULT_CONFIG

    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        f"--checkpoint={DEFAULT_CHECKPOINT}", f"--config={DEFAULT_CONFIG}",
        f"--parity-cache={cache}", f"--parity-report={report}",
        f"--parity-seq-lens={seq_len}", f"--parity-quantization={quantization}",
    ]  # fmt: skip
    env = os.environ | {"SIGNBART_PARITY_PROFILE": "ci"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"gate failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    (row,) = json.loads((report / "parity.json").read_text())["results"]
    return Path(row["file"])


def one_run(seq_len: int, quantization: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="convert-cache-bench-") as scratch:
        folder = Path(scratch)
        cold, wrote = convert(folder / "cold.tflite", folder / "empty", seq_len, quantization)
        if SERVED in wrote:
            sys.exit(f"the cold convert found a cached file: {wrote}")
        made = gate(folder / "gate-cache", folder / "report", seq_len, quantization)
        served, wrote = convert(
            folder / "served.tflite", folder / "gate-cache", seq_len, quantization
        )
        if SERVED not in wrote or (folder / "served.tflite").read_bytes() != made.read_bytes():
            sys.exit(f"convert did not serve the gate's file: {wrote}")
    return cold, served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="cold+served pairs. Default: 1")
    parser.add_argument("--seq-len", type=int, default=64, help="Default: 64")
    parser.add_argument("--quantization", default="none", help="Default: none (fp32)")
    args = parser.parse_args()
    pairs = [one_run(args.seq_len, args.quantization) for _ in range(args.runs)]
    cold = statistics.median(cold for cold, _ in pairs)
    served = statistics.median(served for _, served in pairs)
    ratio = served / cold
    verdict = "met" if ratio <= RATIO_TARGET else "MISSED"
    print(f"cold convert (empty cache): {cold:.1f} s")
    print(f"convert of the file the gate made (from the export cache): {served:.1f} s")
    print(f"served/cold: {ratio:.2f}x  target <= {RATIO_TARGET}x: {verdict}")
    load = os.getloadavg()[0]
    summary = {"cold_s": cold, "served_s": served, "ratio": ratio, "runs": args.runs}
    print(json.dumps(summary | {"seq_len": args.seq_len, "load_average": load}))


if __name__ == "__main__":
    main()

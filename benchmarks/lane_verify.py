"""What a lane costs ``verify``: the whole command in a fresh process with each runtime
against the same command with ``litert``, on the same file, one after another in one run.

    python benchmarks/lane_verify.py [--runtime compiled@gpu litert@arm64] [--tflite FILE]

Issue 30's bounds: ``litert@arm64`` at most 12x, ``compiled@gpu`` at most 8x. Default file:
the embedded default at seq_len 16, dynamic-int8 (through the export cache). The emulated
lane needs ``signbart-parity runtimes prepare litert@arm64`` first. ``benchmarks/
arm64_verify.py`` breaks the arm64 lane's time down. Prints one line per lane and one JSON
line last.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BOUNDS = {"litert@arm64": 12.0, "compiled@gpu": 8.0}
VERDICTS = {0: "PASS", 1: "FAIL"}  # a verdict is measured like any other; 2+ is not a run


def default_file() -> Path:
    """The embedded default at seq_len 16, dynamic-int8, through the export cache."""
    from signbart_parity.export.cache import ExportCache
    from signbart_parity.export.exporter import Exporter
    from signbart_parity.model.default import load_model_or_default
    from signbart_parity.runtime.provision.venvs import default_cache_root

    model = load_model_or_default(None, None)[0]
    cache = ExportCache(default_cache_root())  # where the gate and convert put it
    return Exporter(model, cache=cache).export(16, "dynamic-int8").path


def verify(path: Path, runtime: str, examples: int) -> tuple[float, str, str]:
    """``verify`` in a fresh process: wall time, its verdict and what it printed."""
    command = [
        sys.executable, "-m", "signbart_parity.cli", "verify", "--tflite", str(path),
        "--runtime", runtime, "--examples", str(examples),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in VERDICTS:
        sys.exit(f"verify --runtime {runtime} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed, VERDICTS[done.returncode], done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", nargs="+", default=list(BOUNDS))
    parser.add_argument("--tflite", type=Path, default=None)
    parser.add_argument("--examples", type=int, default=12, help="verify's. Default: 12")
    args = parser.parse_args()
    path = args.tflite or default_file()
    litert_s, verdict, _ = verify(path, "litert", args.examples)
    print(f"verify ({path}, --examples {args.examples}): litert {litert_s:.1f} s, {verdict}")
    summary = {"litert_s": round(litert_s, 2)}
    for runtime in args.runtime:
        lane_s, verdict, _ = verify(path, runtime, args.examples)
        ratio = lane_s / litert_s
        bound = BOUNDS.get(runtime)
        met = bound is not None and ratio <= bound
        within = "" if bound is None else f" (bound {bound:g}x: {'met' if met else 'NOT met'})"
        print(f"  {runtime} {lane_s:.1f} s, {verdict}: {ratio:.1f}x{within}")
        summary |= {f"{runtime}_s": round(lane_s, 2), f"{runtime}_ratio": round(ratio, 2)}
    print(json.dumps(summary | {"load_average": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()

"""Benchmark what a pinned runtime build costs the release gate: the warm gate with
``--parity-runtime=litert,tflite-runtime==2.14.0`` against the warm gate with ``litert``
alone, in the same run, on the embedded default (4 targets per runtime, ``ci`` profile).

    python benchmarks/runtime_gate_speed.py [--runs N]

Twice the targets should cost at most 2.2x (at most 10% for the worker and its pipe). The
pinned gate's verdict is FAIL (the dynamic-int8 file is wrong in TFLite 2.14): timed anyway.
The environment is prepared first and its creation time printed. One JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate_speed import run_gate  # noqa: E402

PINNED = "tflite-runtime==2.14.0"
TARGET_RATIO = 2.2


def main() -> None:
    from signbart_parity.runtime.envs import prepare
    from signbart_parity.runtime_specs import parse_runtime_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs of each. Default: 3")
    args = parser.parse_args()
    started = time.perf_counter()
    made = prepare(parse_runtime_spec(PINNED))
    print(f"{PINNED} environment: {'made' if made['made'] else 'present'} in "
          f"{time.perf_counter() - started:.1f} s ({made['path']})")  # fmt: skip
    alone, pinned = [], []
    with tempfile.TemporaryDirectory() as scratch:
        cache, report = Path(scratch) / "cache", Path(scratch) / "report"
        both = [f"--parity-runtime=litert,{PINNED}"]
        run_gate(cache, report, both, must_pass=False)  # cold: fills the export cache
        for _ in range(args.runs):  # interleaved, so load drifts hit both alike
            alone.append(run_gate(cache, report, ["--parity-runtime=litert"]))
            pinned.append(run_gate(cache, report, both, must_pass=False))
    ratio = statistics.median(pinned) / statistics.median(alone)
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"warm gate, litert alone: {statistics.median(alone):.1f} s")
    print(f"warm gate, litert + {PINNED}: {statistics.median(pinned):.1f} s")
    print(f"ratio {ratio:.2f}x (target <= {TARGET_RATIO}x: {verdict})")
    print(json.dumps({"alone_s": alone, "pinned_s": pinned, "ratio": round(ratio, 3),
                      "load_average": os.getloadavg()[0]}))  # fmt: skip


if __name__ == "__main__":
    main()

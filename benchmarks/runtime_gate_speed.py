"""Benchmark what a pinned runtime build costs the release gate, on the embedded default
(4 targets per runtime, ``ci`` profile), warm, interleaved in one run against the gate with
``litert`` alone:

- ``--parity-runtime=litert,litert==1.4.0``: a pinned build that passes every target, so
  this is the worker's own cost. Twice the targets should cost at most 2.2x (at most 10%
  for the worker and its pipe).
- ``--parity-runtime=litert,tflite-runtime==2.14.0``: the build apps pin, which FAILS the
  default files (dynamic-int8 is wrong there, fp32 departs on the all-zero mask). Failing
  targets cost more by design: hypothesis shrinks each failure and the gate localises it
  inside the worker. Timed and printed, with no target.

    python benchmarks/runtime_gate_speed.py [--runs N]

The environments are prepared first and their creation times printed. One JSON line last.
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

PASSING = "litert==1.4.0"
FAILING = "tflite-runtime==2.14.0"
TARGET_RATIO = 2.2


def main() -> None:
    from signbart_parity.runtime.provision.venvs import prepare
    from signbart_parity.runtime_specs import parse_runtime_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs of each. Default: 3")
    args = parser.parse_args()
    for pinned in (PASSING, FAILING):
        started = time.perf_counter()
        made = prepare(parse_runtime_spec(pinned))
        print(f"{pinned} environment: {'made' if made['made'] else 'present'} in "
              f"{time.perf_counter() - started:.1f} s ({made['path']})")  # fmt: skip
    alone, passing, failing = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        cache, report = Path(scratch) / "cache", Path(scratch) / "report"
        with_passing = [f"--parity-runtime=litert,{PASSING}"]
        with_failing = [f"--parity-runtime=litert,{FAILING}"]
        run_gate(cache, report, with_passing)  # cold: fills the export cache
        for _ in range(args.runs):  # interleaved, so load drifts hit all alike
            alone.append(run_gate(cache, report, ["--parity-runtime=litert"]))
            passing.append(run_gate(cache, report, with_passing))
            failing.append(run_gate(cache, report, with_failing, must_pass=False))
    base = statistics.median(alone)
    ratio = statistics.median(passing) / base
    print(f"warm gate, litert alone: {base:.1f} s")
    print(f"warm gate, litert + {PASSING} (passes): {statistics.median(passing):.1f} s, "
          f"ratio {ratio:.2f}x (target <= {TARGET_RATIO}x: "
          f"{'met' if ratio <= TARGET_RATIO else 'MISSED'})")  # fmt: skip
    print(
        f"warm gate, litert + {FAILING} (fails, shrinks, localises): "
        f"{statistics.median(failing):.1f} s, ratio {statistics.median(failing) / base:.2f}x"
    )
    print(json.dumps({"alone_s": alone, "passing_s": passing, "failing_s": failing,
                      "ratio": round(ratio, 3), "load_average": os.getloadavg()[0]}))  # fmt: skip


if __name__ == "__main__":
    main()

"""Where the time of ``verify --runtime litert@arm64`` goes: the emulated worker's start,
loading the file in it, each example, and the process hop per call, against ``litert``.

    python benchmarks/arm64_verify.py [--tflite FILE] [--examples N] [--calls N]

In one run on one file (default: the embedded default model at seq_len 16, dynamic-int8,
converted into the export cache): the whole ``verify`` in a fresh process with ``litert``
and with ``litert@arm64`` (wall times, their ratio); then, in this process, the parts: the
aarch64 worker's start (qemu-user starting the emulated Python and importing LiteRT, up to
its first answer), loading the file there, a call through the worker (pipe round trip
included) against the same call timed inside the worker (the hop is their difference), and
the same call with ``litert`` in process. The arm64 environment must be prepared
(``signbart-parity runtimes prepare litert@arm64``); its cache root is
$SIGNBART_PARITY_CACHE as for every runtime. Prints a table and one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARM64 = "litert@arm64"

from benchmarks.lane_verify import default_file, verify  # noqa: E402 (after the path it needs)
from benchmarks.runtime_worker import one_input  # noqa: E402


def parts(path: Path, calls: int) -> dict[str, float]:
    """The aarch64 worker's costs, each timed on its own, and litert's call in process."""
    from signbart_parity.runtime.run.tflite import TFLiteModel
    from signbart_parity.runtime.worker.client import close_workers, worker_for

    close_workers()
    started = time.perf_counter()
    worker_for(ARM64)
    start_s = time.perf_counter() - started
    started = time.perf_counter()
    there = TFLiteModel(path, runtime=ARM64)
    load_s = time.perf_counter() - started
    here = TFLiteModel(path)
    keypoints, mask = one_input(here)
    there(keypoints, mask)  # the first call (kernels prepared) is not an example's cost
    through = _median_ms(lambda: there(keypoints, mask), calls)
    inside = there.latency(keypoints, mask, calls)[0]
    in_process = _median_ms(lambda: here(keypoints, mask), calls)
    close_workers()
    return {
        "worker_start_s": start_s,
        "model_load_s": load_s,
        "arm64_call_ms": through,
        "arm64_inside_worker_ms": inside,
        "hop_ms": through - inside,
        "litert_call_ms": in_process,
    }


def _median_ms(call, times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflite", type=Path, default=None)
    parser.add_argument("--examples", type=int, default=12, help="verify's. Default: 12")
    parser.add_argument("--calls", type=int, default=20, help="timed calls. Default: 20")
    args = parser.parse_args()
    path = args.tflite or default_file()
    litert_s, _, _ = verify(path, "litert", args.examples)
    arm64_s, _, output = verify(path, ARM64, args.examples)
    measured = parts(path, args.calls)
    counted = [line for line in output.splitlines() if " examples, max abs err" in line]
    calls = sum(int(line.split(" examples")[0].split()[-1]) for line in counted)
    emulated = measured["worker_start_s"] + measured["model_load_s"]
    emulated += calls * measured["arm64_call_ms"] / 1e3
    print(f"verify ({path.name}, --examples {args.examples}):")
    print(f"  litert {litert_s:.1f} s, {ARM64} {arm64_s:.1f} s: {arm64_s / litert_s:.1f}x")
    print(f"  {ARM64} worker start (emulated Python + LiteRT): {measured['worker_start_s']:.1f} s")
    print(f"  model load in the worker: {measured['model_load_s']:.2f} s")
    print(
        f"  per call: {measured['arm64_call_ms']:.1f} ms through the worker, "
        f"{measured['arm64_inside_worker_ms']:.1f} ms inside it (hop "
        f"{measured['hop_ms']:.1f} ms); litert in process {measured['litert_call_ms']:.2f} ms"
    )
    print(
        f"  {calls} examples in the report's rows: start + load + calls = {emulated:.1f} s "
        f"of the {arm64_s - litert_s:.1f} s the arm64 verify takes over the litert one"
    )
    summary = {"verify_litert_s": litert_s, "verify_arm64_s": arm64_s, "examples": calls}
    rounded = {key: round(value, 4) for key, value in (summary | measured).items()}
    print(json.dumps(rounded | {"load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()

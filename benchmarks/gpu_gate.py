"""Benchmark what the GPU lane costs the release gate, on the embedded default at seq_len 16
(fp32, ``ci`` profile), warm, interleaved in one run: ``--parity-runtime=litert,compiled@gpu``
against ``litert`` alone; then the time of one GPU example (default precision and fp32
enforced) against the CPU on the same file.

    python benchmarks/gpu_gate.py [--runs N]

One JSON line last.
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate_speed import run_gate  # noqa: E402

TARGET = ["--parity-seq-lens=16", "--parity-quantization=none"]


def per_example_seconds(path: Path, runtime: str, count: int = 40) -> float:
    from signbart_parity.inputs.generators import example_batch
    from signbart_parity.runtime.run.tflite import TFLiteModel

    tflite = TFLiteModel(path, runtime=runtime)
    keypoints, masks, _ = example_batch(
        np.random.default_rng(0),
        count=count,
        seq_len=tflite.seq_len,
        num_keypoints=tflite.signature.num_keypoints,
    )
    started = time.perf_counter()
    tflite(keypoints, masks.astype(np.int32))
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="warm runs of each. Default: 2")
    args = parser.parse_args()
    alone, with_gpu = [], []
    with tempfile.TemporaryDirectory() as scratch:
        cache, report = Path(scratch) / "cache", Path(scratch) / "report"
        gpu = [*TARGET, "--parity-runtime=litert,compiled@gpu"]
        run_gate(cache, report, gpu)  # cold: fills the export cache
        for _ in range(args.runs):  # interleaved, so load drifts hit both alike
            alone.append(run_gate(cache, report, [*TARGET, "--parity-runtime=litert"]))
            with_gpu.append(run_gate(cache, report, gpu))
        path = next(cache.rglob("model.tflite"))
        example = {
            runtime: per_example_seconds(path, runtime)
            for runtime in ("compiled", "compiled@gpu", "compiled@gpu:fp32")
        }
    base, both = statistics.median(alone), statistics.median(with_gpu)
    print(f"warm gate at seq_len 16, litert alone: {base:.1f} s")
    print(f"warm gate, litert + compiled@gpu: {both:.1f} s (ratio {both / base:.2f}x)")
    for runtime, seconds in example.items():
        print(f"one example on {runtime}: {seconds * 1e3:.1f} ms")
    print(json.dumps({"alone_s": alone, "with_gpu_s": with_gpu, "per_example_s": example,
                      "load_average": os.getloadavg()[0]}))  # fmt: skip


if __name__ == "__main__":
    main()

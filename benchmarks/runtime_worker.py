"""Benchmark pinned runtime builds: how long an isolated environment takes to make (uv
against ``python -m venv`` + pip), and what running a file through the worker costs per call
against the same build in process.

    python benchmarks/runtime_worker.py [--tflite FILE] [--iterations N] [--spec SPEC]

Per-call cost compares, in one run on one file, ai-edge-litert 2.3.0 in process with the
same release out of process (``litert==2.3.0``): a call from the harness (pipe round trip
included) and the same call timed inside the worker. Without ``--tflite`` the embedded
default model is converted at seq_len 64 first. Prints a table and one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_environment(spec_text: str, cache: Path, *, with_uv: bool) -> float:
    """Seconds to make ``spec_text``'s environment in ``cache`` (download caches warm)."""
    from signbart_parity.runtime.provision import venvs as envs
    from signbart_parity.runtime_specs import parse_runtime_spec

    found = envs._uv_binary
    if not with_uv:
        envs._uv_binary = lambda: None  # the venv + pip path, as where uv is missing
    try:
        started = time.perf_counter()
        envs.prepare(parse_runtime_spec(spec_text), cache)
        return time.perf_counter() - started
    finally:
        envs._uv_binary = found


def default_file(folder: Path) -> Path:
    from signbart_parity.export.fp32 import export_fp32
    from signbart_parity.model.default import load_model_or_default

    model = load_model_or_default(None, None)[0]
    path = folder / "default-64.tflite"
    export_fp32(model, seq_len=64, output=path)
    return path


def call_costs(path: Path, iterations: int) -> dict[str, float]:
    from signbart_parity.runtime.run.backends import measure
    from signbart_parity.runtime.run.tflite import TFLiteModel

    here = TFLiteModel(path)
    there = TFLiteModel(path, runtime="litert==2.3.0")
    keypoints, mask = one_input(here)
    in_process = measure(lambda: here(keypoints, mask), iterations)[0]
    through_pipe = measure(lambda: there(keypoints, mask), iterations)[0]
    inside_worker = there.latency(keypoints, mask, iterations)[0]
    return {
        "in_process_ms": in_process,
        "worker_call_ms": through_pipe,
        "inside_worker_ms": inside_worker,
        "overhead_ms": through_pipe - inside_worker,
        "worker_over_in_process": through_pipe / in_process,
    }


def one_input(model):
    """One seeded input the file takes (batch 1 when the file is), all frames valid."""
    import numpy as np

    rng = np.random.default_rng(0)
    shape = model.signature.keypoints.shape
    return rng.random(shape, dtype=np.float32), np.ones((shape[0], shape[1]), np.int32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflite", type=Path, default=None)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--spec", default="tflite-runtime==2.14.0", help="env to time making")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        os.environ["SIGNBART_PARITY_CACHE"] = str(scratch / "worker-cache")
        made = {
            "uv_s": make_environment(args.spec, scratch / "uv", with_uv=True),
            "venv_pip_s": make_environment(args.spec, scratch / "pip", with_uv=False),
        }
        path = args.tflite or default_file(scratch)
        costs = call_costs(path, args.iterations)
    print(f"making {args.spec}: uv {made['uv_s']:.1f} s, venv + pip {made['venv_pip_s']:.1f} s")
    print(
        f"per call ({path.name}): in process {costs['in_process_ms']:.3f} ms, through the "
        f"worker {costs['worker_call_ms']:.3f} ms (inside it {costs['inside_worker_ms']:.3f} "
        f"ms): overhead {costs['overhead_ms']:.3f} ms, ratio "
        f"{costs['worker_over_in_process']:.2f}"
    )
    rounded = {key: round(value, 4) for key, value in (made | costs).items()}
    print(json.dumps(rounded | {"load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()

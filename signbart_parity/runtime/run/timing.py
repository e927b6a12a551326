"""Latency measurement: one real-like input, a warm-up, then median and p90 of many calls.

``bench`` (``cli/bench.py``) and the gate's timing step both measure through ``measure`` on
``timing_input``, so their numbers are comparable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from signbart_parity.inputs.synthetic import real_like_batch
from signbart_parity.runtime.read.signature import signature_name
from signbart_parity.runtime.run.backends import WARMUP, measure  # noqa: F401 (shared here)
from signbart_parity.runtime.run.tflite import TFLiteModel
from signbart_parity.runtime_specs import parse_runtime_spec
from signbart_parity.versions import environment


@dataclass(frozen=True)
class Timing:
    runtime: str  # "pytorch", or the TFLite runtime (litert, tensorflow, compiled)
    precision: str
    threads: int
    xnnpack: bool | None  # None for PyTorch
    median_ms: float
    p90_ms: float


def timing_input(config, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The one real-like (keypoints, mask) batch every latency here is measured on."""
    keypoints, mask, _ = real_like_batch(
        np.random.default_rng(0),
        count=1,
        seq_len=seq_len,
        num_keypoints=config.min_input_keypoints,
        num_labels=config.num_labels,
    )
    return keypoints, mask


def torch_timings(model, keypoints, mask, threads: Sequence[int], iterations: int) -> list:
    import torch

    inputs = torch.from_numpy(keypoints), torch.from_numpy(mask)
    previous = torch.get_num_threads()
    timings = []
    try:
        with torch.inference_mode():
            for count in threads:
                torch.set_num_threads(count)
                median, p90 = measure(lambda: model(*inputs), iterations)
                timings.append(Timing("pytorch", "fp32", count, None, median, p90))
    finally:
        torch.set_num_threads(previous)
    return timings


def tflite_timings(
    precision, path, keypoints, mask, threads, iterations, runtimes, *, signature=None
) -> list:
    """Every runtime at every thread count, with XNNPACK and (Interpreters) without it."""
    timings = []
    for runtime in runtimes:
        # CompiledModel always runs XNNPACK on the CPU.
        for xnnpack in (True,) if _is_compiled(runtime) else (True, False):
            for count in threads:
                tflite = TFLiteModel(
                    path, runtime=runtime, signature=signature, num_threads=count,
                    xnnpack=xnnpack,
                )  # fmt: skip
                median, p90 = tflite.latency(keypoints, mask, iterations)
                timings.append(Timing(runtime, precision, count, xnnpack, median, p90))
    return timings


def _is_compiled(runtime: str) -> bool:
    return parse_runtime_spec(runtime).entry.compiled


def bucket_timings(path, config, seq_lens, threads: int, iterations: int) -> dict[str, float]:
    """Median latency of each ``seq_<T>`` signature of a bundle (XNNPACK, litert)."""
    medians = {}
    for length in seq_lens:
        keypoints, mask = timing_input(config, length)
        tflite = TFLiteModel(path, signature=signature_name(length), num_threads=threads)
        medians[str(length)] = tflite.latency(keypoints, mask, iterations)[0]
    return medians


def headline_threads(threads: Sequence[int]) -> int:
    """The thread count the summary quotes: the largest requested <= 2."""
    return max([count for count in threads if count <= 2] or [min(threads)])


def machine_info(load_average: float) -> dict:
    """What the numbers depend on; a busy machine (load above its cores) skews them."""
    return {
        "cpu_count": os.cpu_count(),
        "load_average_at_start": round(load_average, 2),
        "environment": environment(),
    }


def summarise(timings: list[Timing], files: dict, *, seq_len, threads, iterations) -> dict:
    """The JSON summary: medians at the headline thread count, sizes, ratios, every timing."""
    headline = headline_threads(threads)

    def median(runtime: str, precision: str, xnnpack: bool | None) -> float:
        return next(
            t.median_ms
            for t in timings
            if (t.runtime, t.precision, t.threads, t.xnnpack)
            == (runtime, precision, headline, xnnpack)
        )

    runtimes = list(dict.fromkeys(t.runtime for t in timings if t.runtime != "pytorch"))
    # The headline runtime (the first requested) gives tflite_ms and the ratios.
    first = runtimes[0]
    runtime_ms = {r: {p: median(r, p, True) for p in files} for r in runtimes}
    summary = {
        "seq_len": seq_len,
        "threads": headline,
        "iterations": iterations,
        "runtime": first,
        "torch_ms": median("pytorch", "fp32", None),
        "tflite_ms": runtime_ms[first],
        "runtime_ms": runtime_ms,
        "tflite_ms_without_xnnpack": {
            p: median(first, p, False) for p in files if not _is_compiled(first)
        },
        "size_bytes": {precision: converted.size_bytes for precision, converted in files.items()},
        "conversion_seconds": {p: round(converted.seconds, 3) for p, converted in files.items()},
        "timings": [asdict(timing) for timing in timings],
    }
    summary["ratios"] = ratios(summary)
    return summary


def ratios(summary: dict) -> dict:
    """The ratios the targets are stated in, for whichever precisions were measured."""
    latency, size = summary["tflite_ms"], summary["size_bytes"]
    result = {}
    if "fp32" in latency:
        result["fp32_vs_torch"] = latency["fp32"] / summary["torch_ms"]
        for precision in latency:
            if precision != "fp32":
                result[f"{precision}_vs_fp32"] = latency[precision] / latency["fp32"]
                result[f"{precision}_size_vs_fp32"] = size[precision] / size["fp32"]
    return result

"""``signbart-parity bench``: latency and size of PyTorch eager and each TFLite precision.

All timings come from one process on one real-like input (batch 1): median and p90 of
``iterations`` calls after a warm-up. TFLite runs with and without XNNPACK (its default
delegate); the JSON summary quotes medians at the largest requested thread count <= 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from signbart_parity.bundle import signature_name

Progress = Callable[[str], None]
DEFAULT_QUANTIZATIONS = ("none", "fp16", "dynamic-int8", "weight-only-int8", "static-int8")
WARMUP = 5
# Targets this project holds the files to at seq_len 64 on a 2-core machine.
TARGETS = {
    "fp32_vs_torch": 0.5,  # TFLite fp32 latency / PyTorch eager
    "dynamic-int8_vs_fp32": 1.0,  # dynamic-int8 latency / fp32
    "dynamic-int8_size_vs_fp32": 0.35,  # dynamic-int8 file / fp32 file
}


def parse_threads(text: str) -> tuple[int, ...]:
    """argparse type for ``1,2``: positive thread counts."""
    try:
        counts = tuple(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected thread counts like 1,2; got {text!r}")
    return counts


def parse_runtimes(text: str) -> tuple[str, ...]:
    """argparse type for ``litert,compiled``: known TFLite runtimes, in the order given."""
    from signbart_parity.runtime import RUNTIMES

    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in RUNTIMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown runtime {', '.join(unknown) or repr(text)}; choose from "
            f"{', '.join(RUNTIMES)} (comma-separated)"
        )
    return names


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
    from signbart_parity.synthetic import real_like_batch

    keypoints, mask, _ = real_like_batch(
        np.random.default_rng(0),
        count=1,
        seq_len=seq_len,
        num_keypoints=config.min_input_keypoints,
        num_labels=config.num_labels,
    )
    return keypoints, mask


def measure(call: Callable[[], object], iterations: int) -> tuple[float, float]:
    """(median, p90) milliseconds of ``call`` after a short warm-up."""
    for _ in range(WARMUP):
        call()
    samples = np.empty(iterations)
    for index in range(iterations):
        started = time.perf_counter()
        call()
        samples[index] = time.perf_counter() - started
    return float(np.median(samples) * 1e3), float(np.percentile(samples, 90) * 1e3)


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
    from signbart_parity.runtime import TFLiteModel

    timings = []
    for runtime in runtimes:
        # CompiledModel always runs XNNPACK on the CPU.
        for xnnpack in (True,) if runtime == "compiled" else (True, False):
            for count in threads:
                tflite = TFLiteModel(
                    path, runtime=runtime, signature=signature, num_threads=count,
                    xnnpack=xnnpack,
                )  # fmt: skip
                median, p90 = measure(lambda: tflite(keypoints, mask), iterations)  # noqa: B023
                timings.append(Timing(runtime, precision, count, xnnpack, median, p90))
    return timings


def bench_command(
    *,
    config: Path | None,
    checkpoint: Path | None,
    seq_len: Sequence[int],
    threads: Sequence[int],
    quantizations: Sequence[str] = DEFAULT_QUANTIZATIONS,
    iterations: int,
    as_json: bool,
    progress: Progress,
    runtimes: Sequence[str] = ("litert",),
) -> int:
    """Time PyTorch and every precision at the longest seq_len. Several seq_lens convert
    one bundle file per precision; each of its signatures is then timed too (bucket_ms)."""
    from signbart_parity.calibration import calibration_sets
    from signbart_parity.convert import check_seq_len
    from signbart_parity.default_model import load_model_or_default
    from signbart_parity.precisions import convert_precisions

    load_average = os.getloadavg()[0]
    model, model_config = load_model_or_default(config, checkpoint, progress=progress)
    seq_lens = tuple(seq_len)
    for length in seq_lens:
        check_seq_len(model_config, length)
    longest = max(seq_lens)
    keypoints, mask = timing_input(model_config, longest)
    progress(f"timing PyTorch eager ({iterations} calls per setting)")
    timings = torch_timings(model, keypoints, mask, threads, iterations)
    calibration = None
    if "static-int8" in quantizations:
        calibration = calibration_sets(model_config, seq_lens)
    bucket_ms = None
    with tempfile.TemporaryDirectory(prefix="signbart-bench-") as scratch:
        files = convert_precisions(
            model,
            seq_len=seq_lens,
            quantizations=quantizations,
            directory=Path(scratch),
            calibration=calibration,
            progress=progress,
        )
        signature = signature_name(longest) if len(seq_lens) > 1 else None
        for precision, converted in files.items():
            progress(f"timing TFLite {precision}")
            timings += tflite_timings(
                precision, converted.path, keypoints, mask, threads, iterations, runtimes,
                signature=signature,
            )  # fmt: skip
        if len(seq_lens) > 1 and "fp32" in files:
            progress("timing each signature of the fp32 bundle")
            bucket_ms = bucket_timings(
                files["fp32"].path, model_config, seq_lens, _headline(threads), iterations
            )
    summary = summarise(timings, files, seq_len=longest, threads=threads, iterations=iterations)
    if len(seq_lens) > 1:
        summary["seq_lens"] = list(seq_lens)
        summary["bucket_ms"] = bucket_ms
    summary["calibration"] = (
        {str(length): found.to_dict() for length, found in calibration.items()}
        if calibration
        else None
    )
    summary["machine"] = machine_info(load_average)
    print("\n".join(table_lines(summary)))
    if as_json:
        print(json.dumps(summary))
    return 0


def bucket_timings(path, config, seq_lens, threads: int, iterations: int) -> dict[str, float]:
    """Median latency of each ``seq_<T>`` signature of a bundle (XNNPACK, litert)."""
    from signbart_parity.runtime import TFLiteModel

    medians = {}
    for length in seq_lens:
        keypoints, mask = timing_input(config, length)
        tflite = TFLiteModel(path, signature=signature_name(length), num_threads=threads)
        medians[str(length)] = measure(lambda: tflite(keypoints, mask), iterations)[0]  # noqa: B023
    return medians


def _headline(threads: Sequence[int]) -> int:
    """The thread count the summary quotes: the largest requested <= 2."""
    return max([count for count in threads if count <= 2] or [min(threads)])


def machine_info(load_average: float) -> dict:
    """What the numbers depend on; a busy machine (load above its cores) skews them."""
    from signbart_parity.versions import installed_version

    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": round(load_average, 2),
        "versions": {
            name: installed_version(name) for name in ("torch", "ai-edge-litert", "litert-torch")
        },
    }


def summarise(timings: list[Timing], files: dict, *, seq_len, threads, iterations) -> dict:
    """The JSON summary: medians at the headline thread count, sizes, ratios, every timing."""
    headline = _headline(threads)

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
            p: median(first, p, False) for p in files if first != "compiled"
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


def table_lines(summary: dict) -> list[str]:
    """The human-readable table: a row per runtime setting, a column per thread count."""
    timings = [Timing(**row) for row in summary["timings"]]
    threads = sorted({t.threads for t in timings})
    rows: dict[tuple, dict[int, Timing]] = {}
    for t in timings:
        rows.setdefault((t.runtime, t.precision, t.xnnpack), {})[t.threads] = t
    lines = [
        f"seq_len {summary['seq_len']}, batch 1, {summary['iterations']} calls per cell; "
        "latency median / p90 in ms",
        *_machine_line(summary.get("machine")),
        f"{'':<38}" + "".join(f"{f'{n} thread(s)':>16}" for n in threads) + "      size  convert",
    ]
    for (runtime, precision, xnnpack), by_threads in rows.items():
        if runtime == "pytorch":
            name, extra = "PyTorch eager", ""
        else:
            where = "" if runtime == "litert" else f" [{runtime}]"
            name = f"TFLite {precision}{where}" + ("" if xnnpack else " (no XNNPACK)")
            size = summary["size_bytes"][precision] / 1e6
            extra = f"{size:>8.2f} MB {summary['conversion_seconds'][precision]:>6.1f} s"
        cells = "".join(
            f"{f'{by_threads[n].median_ms:.2f} / {by_threads[n].p90_ms:.2f}':>16}"
            if n in by_threads
            else f"{'':>16}"
            for n in threads
        )
        lines.append(f"{name:<38}{cells}{extra}")
    lines.append(
        f"ratios of medians at {summary['threads']} thread(s), XNNPACK on, "
        f"{summary.get('runtime', 'litert')} runtime:"
    )
    bundle = "seq_lens" in summary  # the targets are stated for single files
    for key, value in summary["ratios"].items():
        target = None if bundle else TARGETS.get(key)
        verdict = ""
        if target is not None:
            verdict = f"  (target <= {target:g}: {'met' if value <= target else 'MISSED'})"
        lines.append(f"  {key}: {value:.2f}{verdict}")
    if summary.get("bucket_ms"):
        buckets = ", ".join(f"seq_{t} {ms:.2f} ms" for t, ms in summary["bucket_ms"].items())
        lines.append(
            f"each signature of the fp32 bundle at {summary['threads']} thread(s): {buckets}"
        )
    return lines


def _machine_line(machine: dict | None) -> list[str]:
    if not machine:
        return []
    return [
        f"{machine['cpu_count']} CPUs, load average {machine['load_average_at_start']} at start"
        f" ({', '.join(f'{k} {v}' for k, v in machine['versions'].items())})"
    ]

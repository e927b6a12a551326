"""``signbart-parity bench``: latency and size of PyTorch eager and each TFLite precision.

All timings come from one process on one real-like input (batch 1): median and p90 of
``iterations`` calls after a warm-up (``runtime/run/timing.py``). TFLite runs with and without
XNNPACK (its default delegate); the JSON summary quotes medians at the largest requested
thread count <= 2. Several ``--seq-len`` make one bundle file per precision; each of its
signatures is then timed too (``bucket_ms``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from signbart_parity import argtypes
from signbart_parity.cli import common
from signbart_parity.export.exporter import Exporter
from signbart_parity.inputs.calibration import calibration_sets
from signbart_parity.model.default import load_model_or_default
from signbart_parity.options import add_to_cli
from signbart_parity.runtime.read.signature import signature_name
from signbart_parity.runtime.run.timing import (
    Timing,
    bucket_timings,
    headline_threads,
    machine_info,
    summarise,
    tflite_timings,
    timing_input,
    torch_timings,
)
from signbart_parity.targets import QUANTIZATIONS

# Targets this project holds the files to at seq_len 64 on a 2-core machine.
TARGETS = {
    "fp32_vs_torch": 0.5,  # TFLite fp32 latency / PyTorch eager
    "dynamic-int8_vs_fp32": 1.0,  # dynamic-int8 latency / fp32
    "dynamic-int8_size_vs_fp32": 0.35,  # dynamic-int8 file / fp32 file
}


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "bench", help="latency and file size of PyTorch eager and each TFLite precision"
    )
    common.add_model_options(parser)
    common.add_seq_len_option(parser, buckets=True)
    parser.add_argument(
        "--threads",
        type=argtypes.thread_counts,
        default="1,2",
        metavar="N,...",
        help="thread counts to time. Default: %(default)s",
    )
    add_to_cli(parser, "quantization", default=QUANTIZATIONS)
    parser.add_argument(
        "--iterations",
        type=argtypes.count,
        default=200,
        metavar="N",
        help="timed calls per setting. Default: %(default)s",
    )
    add_to_cli(parser, "runtime")  # side by side; the first gives the ratios
    parser.add_argument(
        "--json",
        action="store_true",
        help="also print the summary as one JSON object on the last line",
    )
    common.add_output_options(parser)
    parser.set_defaults(
        handler=lambda args: bench_command(
            config=args.config,
            checkpoint=args.checkpoint,
            seq_len=args.seq_len,
            threads=args.threads,
            quantizations=args.quantization,
            iterations=args.iterations,
            as_json=args.json,
            progress=common.progress,
            runtimes=args.runtime,
        )
    )


def bench_command(
    *,
    config: Path | None,
    checkpoint: Path | None,
    seq_len: Sequence[int],
    threads: Sequence[int],
    quantizations: Sequence[str] = QUANTIZATIONS,
    iterations: int,
    as_json: bool,
    progress,
    runtimes: Sequence[str] = ("litert",),
) -> int:
    """Time PyTorch and every precision at the longest seq_len. Several seq_lens convert
    one bundle file per precision; each of its signatures is then timed too (bucket_ms)."""
    load_average = os.getloadavg()[0]
    model, model_config = load_model_or_default(config, checkpoint, progress=progress)
    seq_lens = model_config.check_seq_lens(seq_len)
    longest = max(seq_lens)
    keypoints, mask = timing_input(model_config, longest)
    progress(f"timing PyTorch eager ({iterations} calls per setting)")
    timings = torch_timings(model, keypoints, mask, threads, iterations)
    calibration = None
    if "static-int8" in quantizations:
        calibration = calibration_sets(model_config, seq_lens)
    bucket_ms = None
    with tempfile.TemporaryDirectory(prefix="signbart-bench-") as scratch:
        exporter = Exporter(
            model,
            directory=Path(scratch),
            calibrate=(lambda lengths: calibration) if calibration else None,
            progress=progress,
        )
        files = exporter.export_all(seq_lens, quantizations)
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
                files["fp32"].path, model_config, seq_lens, headline_threads(threads), iterations
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
        f" ({', '.join(f'{k} {v}' for k, v in machine['environment'].items())})"
    ]

"""``signbart-parity bench``: the fields of its JSON summary and its table (not its timings)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json

import pytest

from signbart_parity.argtypes import thread_counts as parse_threads
from signbart_parity.cli.bench import table_lines
from signbart_parity.cli.main import main
from signbart_parity.export.exporter import ExportedFile
from signbart_parity.runtime.run.timing import Timing, summarise
from tests.helpers import CHECKPOINT, CONFIG

THREADS, QUANTIZATIONS = "1,2", "none,dynamic-int8"


@pytest.fixture(scope="module")
def bench_run():
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "bench", "--config", str(CONFIG), "--checkpoint", str(CHECKPOINT), "--seq-len", "16",
        "--threads", THREADS, "--quantization", QUANTIZATIONS, "--iterations", "3", "--json",
    ]  # fmt: skip
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_bench_json_is_the_last_line_with_the_promised_fields(bench_run):
    code, stdout, stderr = bench_run
    assert code == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["seq_len"] == 16 and summary["threads"] == 2
    assert _positive(summary["torch_ms"])
    for key in ("tflite_ms", "tflite_ms_without_xnnpack", "size_bytes", "conversion_seconds"):
        assert set(summary[key]) == {"fp32", "dynamic-int8"}, key
        assert all(_positive(value) for value in summary[key].values()), key
    assert all(isinstance(n, int) for n in summary["size_bytes"].values())
    assert set(summary["ratios"]) == {
        "fp32_vs_torch",
        "dynamic-int8_vs_fp32",
        "dynamic-int8_size_vs_fp32",
    }
    assert all(_positive(value) for value in summary["ratios"].values())
    # A PyTorch row per thread count; TFLite: each precision x thread count x XNNPACK on/off.
    threads, precisions = len(THREADS.split(",")), len(QUANTIZATIONS.split(","))
    assert len(summary["timings"]) == threads + precisions * threads * 2
    assert all(t["p90_ms"] >= t["median_ms"] > 0 for t in summary["timings"])


@pytest.mark.slow
def test_bench_prints_a_readable_table(bench_run):
    _, stdout, _ = bench_run
    table = "\n".join(stdout.strip().splitlines()[:-1])
    for row in ("PyTorch eager", "TFLite fp32", "TFLite dynamic-int8 (no XNNPACK)"):
        assert row in table
    assert "fp32_vs_torch" in table and "target <= 0.5" in table


def test_summary_ratios_come_from_medians_at_two_threads(tmp_path):
    timings = [
        Timing("pytorch", "fp32", 1, None, 6.0, 7.0),
        Timing("pytorch", "fp32", 2, None, 4.0, 5.0),
        Timing("litert", "fp32", 2, True, 1.0, 1.5),
        Timing("litert", "fp32", 2, False, 3.0, 3.5),
        Timing("litert", "dynamic-int8", 2, True, 0.8, 0.9),
        Timing("litert", "dynamic-int8", 2, False, 2.0, 2.5),
    ]
    files = {
        "fp32": ExportedFile("none", tmp_path / "a", 1000, 5.0),
        "dynamic-int8": ExportedFile("dynamic-int8", tmp_path / "b", 300, 5.1),
    }
    summary = summarise(timings, files, seq_len=64, threads=(1, 2), iterations=10)
    assert summary["torch_ms"] == 4.0
    assert summary["tflite_ms"] == {"fp32": 1.0, "dynamic-int8": 0.8}
    assert summary["ratios"] == pytest.approx(
        {"fp32_vs_torch": 0.25, "dynamic-int8_vs_fp32": 0.8, "dynamic-int8_size_vs_fp32": 0.3}
    )
    assert "MISSED" not in "\n".join(table_lines(summary))


@pytest.mark.parametrize("text", ["0", "1,x", "", "-2"])
def test_parse_threads_rejects_bad_counts(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_threads(text)


def test_parse_threads_keeps_order_and_drops_repeats():
    assert parse_threads("2,1,2") == (2, 1)


def _positive(value) -> bool:
    return isinstance(value, int | float) and value > 0

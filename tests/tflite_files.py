"""Converted .tflite files shared by test_verify, test_golden and test_divergence.

Each file is converted at most once per test process (``functools.cache``) into one scratch
folder removed at exit, so the three test files together convert: the fixture checkpoint
at seq_len 16 and 8, and one broken model per fault (the dynamic-int8 file is quantized
from the fp32 one, not converted again).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers import CHECKPOINT, CONFIG

SEQ_LEN = 16
# The stage each fault first changes (what divergence localisation must report).
FAULT_STAGES = {
    "mask-ignored-in-encoder": "encoder_layer_0",
    "last-frame-pooling": "pooled",
    "gelu-tanh": "encoder_layer_0",
    "layernorm-eps": "encoder_layer_0",
    "weight-noise": "encoder_layer_0",
    "inverted-mask": "encoder_layer_0",
}
MODEL_ARGS = ["--config", str(CONFIG), "--checkpoint", str(CHECKPOINT)]


@functools.cache
def scratch() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="signbart-tests-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.cache
def fixture_model():
    from signbart_parity.checkpoint import load_signbart_model

    return load_signbart_model(CONFIG, CHECKPOINT)


@functools.cache
def genuine(seq_len: int = SEQ_LEN, quantization: str = "none") -> Path:
    """The fixture checkpoint's own export (quantized modes derived from the fp32 file;
    static-int8 calibrated on generated real-like sequences, as ``convert`` does)."""
    from signbart_parity.calibration import calibration_set
    from signbart_parity.convert import export_fp32, quantize_file

    if quantization != "none":
        output = scratch() / f"genuine-{seq_len}-{quantization}.tflite"
        model, config = fixture_model()
        calibration = (
            calibration_set(config, seq_len).inputs if quantization == "static-int8" else None
        )
        quantize_file(genuine(seq_len), output=output, quantization=quantization,
                      calibration=calibration)
        return output
    output = scratch() / f"genuine-{seq_len}.tflite"
    export_fp32(fixture_model()[0], seq_len=seq_len, output=output)
    return output


@functools.cache
def broken(fault: str) -> Path:
    """The fixture checkpoint with ``fault`` applied, converted at SEQ_LEN."""
    from signbart_parity.convert import export_fp32
    from signbart_parity.faults import broken_model

    output = scratch() / f"broken-{fault}.tflite"
    export_fp32(broken_model(fixture_model()[0], fault), seq_len=SEQ_LEN, output=output)
    return output


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``signbart-parity ARGS`` in a fresh process: exit code, stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "-m", "signbart_parity.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The single error line a bad input must produce (asserts there is exactly one)."""
    lines = [line for line in done.stderr.splitlines() if not _is_noise(line)]
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith("signbart-parity: error: "), lines[0]
    return lines[0]


def _is_noise(line: str) -> bool:
    """Our own progress lines (the CLI silences the toolchain, so nothing else may appear)."""
    return not line.strip() or line.startswith("... ")


def run_main(capsys, *args: str) -> subprocess.CompletedProcess:
    """``signbart-parity ARGS`` in this process (no import cost); same result shape."""
    from signbart_parity.cli import main

    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)

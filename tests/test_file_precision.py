"""A file's precision is read from the file: every command handed a .tflite judges it under
the tolerance of what it holds, and ``--quantization`` only checks that."""

from __future__ import annotations

import pytest

from signbart_parity.runtime.precision import judged_precision, read_precision
from signbart_parity.targets import QUANTIZATIONS
from tests.cli import one_error_line, run_in_process
from tests.tflite_files import MODEL_ARGS, genuine, hundred_keypoint

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_each_mode_is_read_from_files_of_two_models(quantization):
    """The default-layout fixture checkpoint and the 100-keypoint, d_model 96 model."""
    for path in (genuine(quantization=quantization), hundred_keypoint(quantization=quantization)):
        assert read_precision(path).quantization == quantization, path


def test_a_bundle_is_read_across_its_signatures(tmp_path):
    from signbart_parity.export.convert import convert
    from tests.tflite_files import fixture_model

    result = convert(
        fixture_model()[0], seq_len=(8, 16), output=tmp_path / "b.tflite",
        quantization="dynamic-int8",
    )  # fmt: skip
    assert read_precision(result.path).quantization == "dynamic-int8"


def test_the_readmes_ship_check_passes_a_good_int8_file_without_flags():
    """``verify --tflite m.tflite`` on a dynamic-int8 file: judged as dynamic-int8, and says
    how it knows (it used to be judged as fp32 and fail at 581x the bound)."""
    done = run_in_process(
        "verify", *MODEL_ARGS, "--tflite", genuine(quantization="dynamic-int8"), "--examples", "12"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "precision: dynamic-int8 (read from the file: int8 weights into" in done.stdout
    assert "parity holds" in done.stdout


def test_a_mismatching_quantization_is_one_line_naming_both():
    path = genuine(quantization="fp16")
    done = run_in_process("verify", *MODEL_ARGS, "--tflite", path, "--quantization", "none")
    line = one_error_line(done)
    assert "the file is fp16 (35 float16 weights), you said fp32" in line
    assert "drop --quantization" in line


def test_a_matching_quantization_is_confirmed():
    quantization, line = judged_precision(genuine(quantization="static-int8"), "static-int8")
    assert quantization == "static-int8" and "as given, and the file agrees" in line

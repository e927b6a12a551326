"""Command-line usage errors, for every command: exit 2, one line, no traceback."""

from __future__ import annotations

import pytest

from signbart_parity.cli.main import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["convert", "--output", "x.tflite", "--seq-len", "abc"], "expected a whole number"),
        (["convert"], "the following arguments are required: --output"),
        (["bench", "--iterations", "0"], "expected a count of at least 1"),
        (["verify", "--tflite", "x.tflite", "--examples", "0"], "expected a count of at least 1"),
        (["verify", "--tflite", "x.tflite", "--max-flip-rate", "1.5"], "a share between 0 and 1"),
        (["golden", "create", "--output", "g.npz"], "required: --seq-len"),
        (["report", "merge"], "the following arguments are required"),
        (["evaluate", "--quantization", "int3"], "int3"),
        (["sideways"], "invalid choice"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("signbart-parity"), captured.err
    assert message in lines[0] and "Traceback" not in captured.err

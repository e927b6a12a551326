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


def _exits_0(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_version_names_the_tool_and_its_toolchain(capsys):
    out = _exits_0(capsys, "--version")
    assert out.startswith("signbart-parity 0.1.0 (torch ")
    assert "litert-torch" in out and "ai-edge-litert" in out


def test_the_top_level_help_lists_every_exit_code(capsys):
    out = _exits_0(capsys, "--help")
    codes = [line.split()[0] for line in out.split("exit codes:")[1].splitlines()[1:]]
    assert codes == ["0", "1", "2", "3", "130"] and "143 terminated" in out

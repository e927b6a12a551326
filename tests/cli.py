"""Running ``signbart-parity`` from the tests: in a fresh process (``run_cli``: real start-up,
real stderr, what a user sees) or in this one (``run_in_process``: no import cost). Both
return a ``CompletedProcess`` (exit code, stdout, stderr as text)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys


def run_cli(*args) -> subprocess.CompletedProcess:
    """``signbart-parity ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "signbart_parity.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def run_in_process(*args) -> subprocess.CompletedProcess:
    """``signbart-parity ARGS`` in this process; Python-level output only (a native library
    writing to file descriptor 2 is not captured: use ``run_cli`` to test that)."""
    from signbart_parity.cli.main import main

    argv = [str(arg) for arg in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


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

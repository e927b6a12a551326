"""``signbart-parity``: convert, check and inspect SignBart TFLite files.

Each command lives in its own module (``convert``, ``verify``, ``repair``, ``inspect``,
``golden``, ``report``, ``evaluate``, ``bench``), which adds its parser and runs it. This
module builds the parser, silences the toolchain unless ``--verbose``, and turns errors
into exit codes.

Exit codes: 0 success, 1 parity check failed, 2 bad input (one line, no traceback),
3 the toolchain failed on valid input (converter or quantizer; one line with its message
and versions), 130/143 interrupted by SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from signbart_parity import quiet
from signbart_parity.cli import (
    bench,
    convert,
    evaluate,
    golden,
    inspect,
    progress,
    repair,
    report,
    runtimes,
    verify,
)
from signbart_parity.errors import Finding, ParityInputError, SetupError, ToolchainError
from signbart_parity.interrupts import Terminated, terminate_as_interrupt
from signbart_parity.model.config import LongSequenceWarning
from signbart_parity.validate import escaped_terminal
from signbart_parity.versions import installed_version, toolchain_versions

_python_warning = warnings.showwarning
EXIT_OK, EXIT_PARITY_FAILED, EXIT_BAD_INPUT, EXIT_TOOLCHAIN = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM, as shells report


EXIT_CODES_HELP = """exit codes:
  0    parity holds (convert, verify, golden check, report merge) / the command succeeded
  1    parity violated: a check failed, a build crashed, hung or refused it; no repair passed
  2    bad input or missing setup: one line naming the file, value or setup and the fix
  3    the toolchain (litert-torch, ai-edge-quantizer) failed on a valid model
  130  interrupted by Ctrl-C (SIGINT); 143 terminated (SIGTERM); no partial output"""


def _version_text() -> str:
    """This tool's version and the toolchain a result depends on."""
    versions = ", ".join(f"{name} {version}" for name, version in toolchain_versions().items())
    return f"signbart-parity {installed_version('signbart-parity')} ({versions})"


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (``signbart-parity: error: ...``) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="signbart-parity",
        description="Convert SignBart checkpoints to TFLite and prove the file matches.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version_text())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (convert, verify, repair, inspect, golden, report, evaluate, bench, runtimes):
        command.add_parser(commands)
    return parser


def exit_for(exc: Exception) -> tuple[int, str]:
    """(exit code, the one line) for an error, by whose fault it is."""
    text = " ".join(str(exc).split())  # one line, whatever a runtime's own message spans
    if isinstance(exc, ParityInputError | SetupError):
        return EXIT_BAD_INPUT, f"signbart-parity: error: {text}"
    if isinstance(exc, Finding):  # a runtime build crashed, hung or refused the file
        return EXIT_PARITY_FAILED, f"signbart-parity: FAILED: {text}"
    return EXIT_TOOLCHAIN, f"signbart-parity: toolchain failure: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    with escaped_terminal():  # text read from files cannot drive the terminal
        args = build_parser().parse_args(argv)
        if args.verbose:
            quiet.let_toolchain_speak()
        else:
            quiet.quiet_toolchain()
        progress.configure(quiet=getattr(args, "quiet", False))
        _say_own_warnings()
        try:
            return _run(args)
        finally:
            progress.close()


def _say_own_warnings() -> None:
    """The project's warnings shown (whatever filters the host set) as one line each."""
    warnings.filterwarnings("default", category=LongSequenceWarning)
    warnings.showwarning = _warning_line


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """The project's own warnings as one line (not Python's file:line and source)."""
    if not issubclass(category, LongSequenceWarning):
        return _python_warning(message, category, filename, lineno, file, line)
    print(f"signbart-parity: warning: {message}", file=file or sys.stderr)


def _run(args: argparse.Namespace) -> int:
    """The command, its errors turned into exit codes and one line each."""
    try:
        with terminate_as_interrupt():
            code = args.handler(args)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return code
    except BrokenPipeError:
        return _reader_went_away()
    except (ParityInputError, SetupError, Finding, ToolchainError) as exc:
        code, line = exit_for(exc)
        print(line, file=sys.stderr)
        return code
    except KeyboardInterrupt as exc:
        left = "; ".join(getattr(exc, "__notes__", ())) or "no partial output was left"
        print(f"signbart-parity: interrupted; {left}.", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def _reader_went_away() -> int:
    """The reader closed the pipe (``inspect --json | head -1``): it has what it wanted, so
    exit 0 without a traceback; stdout goes to /dev/null so the exit flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""How commands report progress on long steps (conversions, environments, emulated and GPU
runs): where a person watches a terminal, rich's live status line (spinner, step, elapsed
time), each finished step left as one line; where output is logged (CI, a pipe, a file),
plain ``... step`` lines on stderr; under ``--quiet``, nothing. Results stay on stdout.

rich is imported only on a terminal; the rest of the package never imports this module."""

from __future__ import annotations

import os
import sys
import time

from signbart_parity.validate import escaping, printable


class _Silent:
    """``--quiet``: progress is not shown (errors and results still are)."""

    def say(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Lines(_Silent):
    """A log: one plain line per step, on stderr (apart from the results on stdout)."""

    def say(self, message: str) -> None:
        print(f"... {message}", file=sys.stderr, flush=True)


class _Live(_Silent):
    """A terminal: one live line for the running step; a finished step stays, with its time."""

    def __init__(self, terminal) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._console = Console(file=terminal, highlight=False)
        self._display = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
            # Our prints must come out above the live line, not through it, when they go to
            # the same terminal; a redirected stdout (a file, a pipe) is left alone.
            redirect_stdout=_is_terminal(sys.stdout),
            redirect_stderr=True,
        )
        self._task = None
        self._started = 0.0

    def say(self, message: str) -> None:
        self._finish()
        if not self._display.live.is_started:
            self._display.start()
            # rich passes what it redirects to the terminal as is: escape it first, as the
            # CLI does everywhere else (text read from files cannot drive the terminal).
            sys.stdout, sys.stderr = escaping(sys.stdout), escaping(sys.stderr)
        self._task = self._display.add_task(printable(message), total=None)
        self._started = time.perf_counter()

    def close(self) -> None:
        self._finish()
        if self._display.live.is_started:
            self._display.stop()  # puts back the streams it redirected

    def _finish(self) -> None:
        if self._task is None:
            return
        from rich.text import Text

        description = self._display.tasks[-1].description
        seconds = time.perf_counter() - self._started
        self._display.remove_task(self._task)
        self._display.console.print(Text(f"✓ {description} ({seconds:.1f} s)", style="dim"))
        self._task = None


_reporter: _Silent = _Lines()


def configure(*, quiet: bool) -> None:
    """Choose how this process shows progress: nothing, live on a terminal, or lines."""
    global _reporter
    _reporter.close()
    if quiet:
        _reporter = _Silent()
    elif _watched():
        # A copy of the terminal's descriptor: the toolchain filter re-points fd 2 while it
        # captures native logs, and the live line must not end up in that capture.
        _reporter = _Live(os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8"))
    else:
        _reporter = _Lines()


def say(message: str) -> None:
    """A step that may take more than a few seconds begins (the previous one has ended)."""
    _reporter.say(message)


def close() -> None:
    """The command has ended: the last step is finished and the live line removed."""
    _reporter.close()


def _watched() -> bool:
    """A person at a terminal: stderr is one, and neither CI nor a dumb terminal says
    otherwise (CI logs keep plain lines)."""
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    return _is_terminal(sys.stderr)


def _is_terminal(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False

"""SIGTERM as an interruption: a cancelled CI job must leave no partial file behind.

Python's default for SIGTERM ends the process at once, skipping every ``finally`` and
``with`` block that would remove a temporary file or scratch folder. Inside
``terminate_as_interrupt()`` SIGTERM raises ``Terminated`` (a ``KeyboardInterrupt``)
where the program is, so the same cleanup as for Ctrl-C runs.

A signal that arrives while a garbage-collector callback runs (JAX registers one) raises
there, and Python swallows exceptions from such callbacks. So the handler also leaves a
flag, and every commit point (``raise_if_terminated``: before a file is moved into place,
and when the block ends) raises ``Terminated`` if the signal's own exception never arrived.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


_pending = False


def _raise_terminated(signum, frame) -> None:
    global _pending
    _pending = True
    raise Terminated()


def raise_if_terminated() -> None:
    """At a commit point: raise ``Terminated`` if SIGTERM arrived and its exception was lost."""
    global _pending
    if _pending:
        _pending = False
        raise Terminated()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within this block, SIGTERM raises ``Terminated`` (main thread only; elsewhere a
    signal handler cannot be installed and the block changes nothing)."""
    global _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
        raise_if_terminated()
    except Terminated:
        _pending = False  # it arrived: nothing is left to re-raise
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)

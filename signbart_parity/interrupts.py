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
from collections.abc import Callable, Iterator


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


_pending = 0  # the signal (SIGTERM, or SIGINT in the gate) whose exception may be lost


def _raise_terminated(signum, frame) -> None:
    global _pending
    _pending = signal.SIGTERM
    raise Terminated()


def _raise_interrupted(signum, frame) -> None:
    global _pending
    _pending = signal.SIGINT
    raise KeyboardInterrupt()


def raise_if_terminated() -> None:
    """At a commit point: raise ``Terminated`` (or ``KeyboardInterrupt`` for SIGINT) if the
    signal arrived and its exception was lost."""
    global _pending
    if _pending:
        kind = Terminated if _pending == signal.SIGTERM else KeyboardInterrupt
        _pending = 0
        raise kind()


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
        _pending = 0  # it arrived: nothing is left to re-raise
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def terminate_as_interrupt_until_restored() -> Callable[[], None]:
    """SIGTERM raises ``Terminated`` and SIGINT ``KeyboardInterrupt`` from now on (main
    thread only), both remembered for ``take_pending``, until the returned function restores
    the previous handlers: for a run that spans hooks (the gate), where a ``with`` block
    cannot. A CI cancel then ends the run as Ctrl-C does, and neither is lost when it lands
    in a garbage-collector callback (hypothesis registers one)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated),
        signal.SIGINT: signal.signal(signal.SIGINT, _raise_interrupted),
    }

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def take_pending() -> bool:
    """Whether SIGTERM or SIGINT arrived and its exception was lost (then forget it): a run's
    report must say it was interrupted even when no exception reached its end."""
    global _pending
    found, _pending = bool(_pending), 0
    return found

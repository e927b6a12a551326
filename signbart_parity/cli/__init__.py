"""``signbart-parity``: one module per command, each a thin layer over the stages above."""

from signbart_parity.cli.main import main

__all__ = ["main"]

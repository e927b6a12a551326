"""Root conftest: pytester for the plugin's tests, and gate-only runs at this repo's root.

``pytest`` runs the whole suite (this project's tests and the gate on the embedded
default). A run that names any gate option (``pytest --checkpoint=best.pth
--config=my.yaml``, ``--parity-report DIR``...) is a release gate: it runs the gate and
nothing else, so a user's release never waits on, or fails by, the project's self-tests.
Paths given explicitly on the command line are always honoured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from signbart_parity.gate.options import gate_requested

pytest_plugins = ["pytester"]
GATE_TESTS = Path(__file__).parent / "signbart_parity" / "gate"


def pytest_configure(config: pytest.Config) -> None:
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS and gate_requested(config):
        config.args = [str(GATE_TESTS)]

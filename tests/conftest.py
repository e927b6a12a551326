"""The self-tests' lane requirements (``tests/lanes.py``): markers needs_qemu, needs_vulkan and
needs_chromium, skipped loudly outside CI and failed in CI where their package is missing."""

import os
import sys

import pytest

# pytester restores sys.modules after each test that uses it: a native module first imported
# inside such a test (torch by an in-process CLI run) is dropped, imported again by a later
# test, and crashes there (test_corpus then test_corpus_files in one process: failures, then
# a segfault). Imported here, before any test, it is in every snapshot.
import torch  # noqa: F401, E402

from tests.lanes import (  # noqa: F401  (hooks pytest finds in this module)
    pytest_runtest_setup,
    pytest_sessionstart,
    pytest_terminal_summary,
)
from tests.toolchain_once import toolchain_loaded_before_pytester  # noqa: F401  (a fixture)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    session.config._signbart_exit_status = int(exitstatus)  # read back in pytest_unconfigure


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the self-test process with pytest's own status once every result is written.

    A whole-suite run (the GPU lane's native accelerator, Dawn and lavapipe, loaded in this
    process beside torch, TensorFlow and LiteRT) was seen to segfault in the interpreter's
    teardown, after pytest had printed its final summary: exit 139 with every test reported.
    Skipping native teardown keeps the exit code the tests' verdict. Not for xdist workers
    (the controller reads their results over a channel) and never in the shipped plugin."""
    status = getattr(config, "_signbart_exit_status", None)
    if status is None or hasattr(config, "workerinput"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)

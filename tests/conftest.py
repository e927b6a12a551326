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

from signbart_parity.runtime.provision.venvs import CACHE_VARIABLE
from tests.lanes import (  # noqa: F401  (hooks pytest finds in this module)
    pytest_runtest_setup,
    pytest_sessionstart,
    pytest_terminal_summary,
)
from tests.tflite_files import cache_root
from tests.toolchain_once import toolchain_loaded_before_pytester  # noqa: F401  (a fixture)


def pytest_configure(config):
    """The suite's one cache folder for every door a test opens without --cache (and for
    the processes it starts); on an xdist worker, torch gets this worker's share of the cores.

    Each worker's torch starts a pool of one thread per core, so two workers on two cores ran
    four busy threads (six test files on two workers: 96 s with full pools, 86 s with shares).
    Set before any test runs (and inherited by the runtime workers a test starts)."""
    os.environ[CACHE_VARIABLE] = str(cache_root())
    workers = getattr(config, "workerinput", {}).get("workercount")
    if not workers:
        return
    share = max(1, (os.cpu_count() or 1) // int(workers))
    os.environ.setdefault("OMP_NUM_THREADS", str(share))
    torch.set_num_threads(share)


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

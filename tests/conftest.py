"""The self-tests' lane requirements (``tests/lanes.py``): markers needs_qemu, needs_vulkan and
needs_chromium, skipped loudly outside CI and failed in CI where their package is missing."""

from tests.lanes import (  # noqa: F401  (hooks pytest finds in this module)
    pytest_runtest_setup,
    pytest_sessionstart,
    pytest_terminal_summary,
)

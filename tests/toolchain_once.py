"""The toolchain imported once per test process, before pytester can drop it.

pytester restores ``sys.modules`` when a test that uses it ends, dropping every module the test
imported first. Native modules cannot be imported twice in one process: LiteRT's GPU
accelerator, imported again, gave wrong op results (tests/test_ops.py failed after a pytester
test of test_gpu.py had imported it first), and TensorFlow aborts (the tool no longer loads it
in its own process: runtime_specs.py, ``own_process``). Which test imports them first depends
on the order tests run in (pytest-xdist changes it), so every test that uses pytester imports
them first. torch is imported by tests/conftest.py itself, before any test.
"""

import importlib

import pytest

TOOLCHAIN = ("litert_torch", "ai_edge_litert.interpreter", "ai_edge_litert.compiled_model")


@pytest.fixture(autouse=True)
def toolchain_loaded_before_pytester(request):
    """Autouse fixtures are set up before the ones a test asks for, so before its snapshot."""
    if "pytester" in request.fixturenames:
        for name in TOOLCHAIN:
            importlib.import_module(name)

"""tests/toolchain_once.py: a test that uses pytester no longer drops the toolchain, whatever
order the tests run in."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The first test imports LiteRT's CompiledModel inside a pytester test, the second imports it
# again: it must be the module the first one loaded, not a second load of the native library.
TWO_TESTS = """
seen = {}

def test_first_imports_it_inside_a_pytester_test(pytester):
    import ai_edge_litert.compiled_model as module
    seen["module"] = module

def test_second_finds_the_same_module():
    import ai_edge_litert.compiled_model as module
    assert module is seen["module"], "imported a second time in one process"
"""


def test_a_pytester_test_leaves_the_toolchain_loaded_for_the_next_test(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_two=TWO_TESTS)
    common = ("-p", "pytester", "-p", "no:cacheprovider")
    pytester.runpytest_subprocess(*common).assert_outcomes(passed=1, failed=1)
    kept = pytester.runpytest_subprocess(*common, "-p", "tests.toolchain_once")
    kept.assert_outcomes(passed=2)

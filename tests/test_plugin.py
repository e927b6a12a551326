"""The plugin's options and validation, caching across sessions, xdist, both runtimes,
the upstream checkpoint, and the per-test numbers in JUnit XML."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest

from signbart_parity.gate.profiles import PROFILES
from signbart_parity.gate.run import TIMING_ITERATIONS
from signbart_parity.options import OPTIONS
from tests.helpers import assert_gate_ran
from tests.tflite_files import shared_gate_cache

GATE = "--pyargs signbart_parity.gate -p no:cacheprovider".split()


def run_gate(pytester, tmp_path, *options: str, shared: bool = False):
    """The gate in a subprocess (torch and litert-torch cannot be imported twice in one),
    converting into a cache of its own, or (``shared``) the tests' shared export cache."""
    own = [f"--parity-cache={tmp_path / 'cache'}"]
    cache = shared_gate_cache(tmp_path / "corpus") if shared else own
    return pytester.runpytest_subprocess(*GATE, *cache, "--parity-report=report", *options)


def outcomes(result) -> dict[str, int]:
    """pytest's outcome counts, with the ones the gate must never have set to zero."""
    counts = result.parseoutcomes()
    return {key: counts.get(key, 0) for key in ("passed", "failed", "errors", "skipped")}


def read_report(pytester) -> dict:
    return json.loads((pytester.path / "report" / "parity.json").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--parity-seq-lens=16,abc"], "*not a comma-separated list of whole numbers*"),
        (["--parity-seq-lens=0"], "*sequence lengths must be positive*"),
        (["--parity-seq-lens=300"], "*--parity-seq-lens: seq_len 300 is outside 1..256*"),
        (["--parity-quantization=int3"], "*unknown value 'int3'*"),
        (["--parity-runtime=onnx"], "*unknown value 'onnx'*"),
        (["--checkpoint=missing.pth"], "*missing.pth: file not found*"),
        (["--parity-checkpoint=missing.pth"], "*missing.pth: file not found*"),
        (["--config=missing.yaml"], "*missing.yaml: config file not found*"),
        (["--parity-baseline=missing.tflite"], "*--parity-baseline: missing.tflite: .tflite*"),
        (["--parity-max-flip-rate=2"], "*expected a share between 0 and 1*"),
        (["--parity-profile=fast"], "*invalid choice: 'fast'*"),
        (["--parity-samples=no.pkl"], "*--parity-samples: no.pkl: sample path not found*"),
        (["--parity-budget=-1"], "*expected a positive number of seconds*"),
        (["--parity-budget=60"], "*--parity-budget 60 limits --parity-repair's search: add*"),
    ],
)
def test_bad_option_values_are_usage_errors(pytester, args, message):
    result = pytester.runpytest_inprocess("--pyargs", "signbart_parity.gate", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_options_are_namespaced_and_documented_in_one_group(pytester):
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "SignBart PyTorch vs TFLite parity gate:",
            "*--parity-checkpoint=PATH*",
            "*--parity-seq-lens=T,T*",
            "*--parity-quantization=Q,Q*",
            "*--parity-baseline=TFLITE*",
            "*--parity-profile=NAME*",
            "*--checkpoint=PATH*",
            "*--config=PATH*",
        ]
    )
    text = " ".join(result.stdout.str().split())  # help wraps lines
    for phrase in (
        "Default: 16,64",
        "Default: fp32,dynamic-int8",
        "embedded default model",
        "alias of --parity-checkpoint",
        "alias of --parity-config",
    ):
        assert phrase in text, phrase


def test_a_mismatched_checkpoint_and_config_is_one_line_before_any_test(pytester, tmp_path):
    """A 90-keypoint checkpoint with a 100-keypoint config: one usage error naming both
    files and both shapes, raised before collection (no test runs, nothing converts)."""
    from tests.helpers import CHECKPOINT, write_config

    config = write_config(tmp_path, joint_idx=list(range(100)))
    result = pytester.runpytest_subprocess(
        *GATE,
        f"--checkpoint={CHECKPOINT}",
        f"--config={config}",
        f"--parity-cache={tmp_path / 'cache'}",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
    assert len(errors) == 1, result.stderr.lines
    assert str(CHECKPOINT) in errors[0] and str(config) in errors[0]
    assert "(144, 90) in the checkpoint but (144, 100) from the config" in errors[0]
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not (tmp_path / "cache").exists()


def test_a_checkpoint_with_nan_weights_is_one_usage_error(pytester, tmp_path):
    import torch

    from tests.helpers import CHECKPOINT, CONFIG

    state = dict(torch.load(CHECKPOINT, weights_only=True))
    state["projection.proj_y1.bias"] = state["projection.proj_y1.bias"].clone()
    state["projection.proj_y1.bias"][7] = float("nan")
    broken = tmp_path / "diverged.pth"
    torch.save({"model_state_dict": state, "epoch": 31}, broken)
    result = pytester.runpytest_subprocess(
        *GATE,
        f"--checkpoint={broken}",
        f"--config={CONFIG}",
        f"--parity-cache={tmp_path / 'cache'}",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
    assert len(errors) == 1, result.stderr.lines
    assert "parameter 'projection.proj_y1.bias' holds 1 NaN/Inf value(s)" in errors[0]
    assert not (tmp_path / "cache").exists()


FOREIGN_CONFTEST = """
import sys
import pytest
from hypothesis import settings

settings.register_profile("theirs", max_examples=7)
settings.load_profile("theirs")

def pytest_addoption(parser):
    parser.addoption("--config", default="none", help="their own option")
    parser.addoption("--checkpoint", action="store_true", help="their own flag")
"""
FOREIGN_TESTS = """
import sys
from hypothesis import given, settings, strategies as st

RUNS = []

def test_their_options_are_theirs(request):
    assert request.config.getoption("--config") == "theirs.yaml"
    assert request.config.getoption("--checkpoint") is True

def test_their_profile_is_untouched():
    assert settings.default.max_examples == 7

@given(st.integers())
def test_their_property_runs_their_example_count(value):
    RUNS.append(value)

def test_nothing_heavy_was_imported_and_nothing_wraps_their_tests(request):
    assert len(RUNS) == 7
    assert not {"torch", "litert_torch", "tensorflow"} & set(sys.modules)
    assert request.node.user_properties == []
    assert "parity_recorder" not in request.fixturenames
"""


def test_another_projects_pytest_runs_unchanged(pytester):
    """A project with its own --config/--checkpoint options and its own hypothesis profile,
    in an environment where this package is installed: its run is untouched."""
    pytester.makeconftest(FOREIGN_CONFTEST)
    pytester.makepyfile(test_theirs=FOREIGN_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--config=theirs.yaml", "--checkpoint", "-v"
    )
    assert outcomes(result) == {"passed": 4, "failed": 0, "errors": 0, "skipped": 0}, (
        result.stdout.str() + result.stderr.str()
    )
    assert "SignBart parity report" not in result.stdout.str()
    # The gate's own options stay reachable under their namespaced names.
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    assert "--parity-config=PATH" in help_text and "alias of --parity-config" not in help_text


def test_the_gate_profile_does_not_follow_the_users_default_profile(pytester):
    """The gate uses its own profile even where the user loaded another one globally."""
    pytester.makeconftest(FOREIGN_CONFTEST)
    pytester.makepyfile(
        test_profile="""
from signbart_parity.gate.profiles import PROFILES, gate_settings
from hypothesis import given, strategies as st

SEEN = []

@gate_settings
@given(st.integers())
def test_drawn(value):
    SEEN.append(value)

def test_gate_profile_count():
    assert len(SEEN) == PROFILES["dev"]["max_examples"]
"""
    )
    # The test file is named: a gate option with no test path would run the gate alone.
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--parity-profile=dev", "test_profile.py"
    )
    assert outcomes(result)["passed"] == 2, result.stdout.str()


@pytest.mark.slow
def test_second_identical_run_converts_nothing(pytester, tmp_path):
    """An fp32 file and one derived from it: both converted once, both found the next time.
    (One seq_len: each length is its own file, cached alike; bucket pairs are not its subject.)"""
    options = [
        "--parity-seq-lens=16",
        "--parity-quantization=none,dynamic-int8",
        "--parity-profile=dev",  # what is counted is conversions, not examples
        "--hypothesis-seed=0",  # dev draws anew each run; the same draws every time here
    ]
    reports = []
    for _ in range(2):
        # 2 targets; bucket (one seq_len) and baseline (none given) skip.
        result = run_gate(pytester, tmp_path, *options)
        reports.append(read_report(pytester))
        assert_gate_ran(result, reports[-1], targets=2, skipped=3)
    assert (reports[0]["conversions"], reports[0]["cache_hits"]) == (2, 0)
    assert (reports[1]["conversions"], reports[1]["cache_hits"]) == (0, 2)


@pytest.mark.slow
def test_xdist_workers_convert_each_artifact_once(pytester, tmp_path):
    """Two workers, two runtimes: each file is converted once, and both runtimes agree."""
    options = [
        "-n",
        "2",
        "--parity-seq-lens=8,16",
        "--parity-quantization=none",
        "--parity-runtime=litert,tensorflow",
        "--parity-profile=dev",  # what is counted is conversions, not examples
        "--hypothesis-seed=0",  # dev draws anew each run; the same draws every time here
    ]
    result = run_gate(pytester, tmp_path, *options)
    report = read_report(pytester)
    assert_gate_ran(result, report, targets=4, skipped=2)
    assert report["conversions"] == 2, report
    assert {(r["seq_len"], r["runtime"]) for r in report["results"]} == {
        (8, "litert"),
        (16, "litert"),
        (8, "tensorflow"),
        (16, "tensorflow"),
    }


@pytest.mark.slow
def test_gate_passes_on_the_upstream_fixture_checkpoint(pytester, tmp_path, monkeypatch):
    """The release gate as an ML engineer runs it on a published checkpoint and config."""
    from tests.helpers import CHECKPOINT, CONFIG

    monkeypatch.setenv("SIGNBART_PARITY_PROFILE", "ci")
    result = run_gate(
        pytester,
        tmp_path,
        f"--checkpoint={CHECKPOINT}",
        f"--config={CONFIG}",
        "--junitxml=junit.xml",
        shared=True,
    )
    report = read_report(pytester)
    assert_gate_ran(result, report, targets=4, skipped=2)
    assert report["passed"] and report["checkpoint"]["path"] == str(CHECKPOINT)
    assert {(r["seq_len"], r["quantization"]) for r in report["results"]} == {
        (16, "fp32"),
        (16, "dynamic-int8"),
        (64, "fp32"),
        (64, "dynamic-int8"),
    }
    assert sum(r["examples"] for r in report["results"]) >= 200
    # Every gate test's outcome is in the report, with its check and target.
    assert len(report["outcomes"]) == sum(outcomes(result).values())
    assert {o["outcome"] for o in report["outcomes"]} == {"passed", "skipped"}
    for row in report["results"]:
        # Every check's examples are plotted by headroom and tallied; the plot counts them all.
        expected = {"parity", "padding", "determinism", "real-sample", "agreement"}
        assert set(row["checks"]) == expected | ({"bucket"} if row["seq_len"] == 64 else set())
        assert {s["property"] for s in row["samples"]} == set(row["checks"])
        assert len(row["samples"]) == row["examples"] and 0 < row["bound_ratio"] < 1
        assert (row["logit_scale"] is None) == (row["quantization"] == "fp32")
        # The examples hypothesis generated (the ci profile's), not re-runs of them.
        # Drawn examples with no valid frame are outside the app contract: counted apart.
        drawn = PROFILES["ci"]["max_examples"]
        outside = {name: tally["examples"] for name, tally in row["outside"].items()}
        assert row["checks"]["parity"]["examples"] + outside.get("parity", 0) == drawn
        # hypothesis examples + the real sample + the fixed agreement batch (in the contract:
        # a sixth of the batch has the all-zero mask)
        assert outside["agreement"] == OPTIONS["examples"].default // 6
        fixed = OPTIONS["examples"].default - outside["agreement"]
        assert row["top1_compared"] == drawn - outside.get("parity", 0) + 1 + fixed
        assert row["latency_ms"] > 0 and row["file"].endswith("model.tflite")
    assert report["timing"]["iterations"] == TIMING_ITERATIONS
    fp32 = [r for r in report["results"] if r["quantization"] == "fp32"]
    # TFLite fp32 error is of the order of PyTorch fp32's own error against float64.
    assert all(r["tflite_oracle_max_abs_err"] < 20 * r["oracle_max_abs_err"] for r in fp32)
    # Per-test numbers reach the JUnit XML as properties.
    cases = ElementTree.parse(pytester.path / "junit.xml").iter("testcase")
    case = next(c for c in cases if "test_logits_match_pytorch" in c.get("name"))
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert (properties["parity_check"], properties["parity_target"]) == ("parity", "16|fp32|litert")
    assert int(properties["parity_examples"]) == 25
    assert int(properties["parity_failed_examples"]) == 0
    assert 0 < float(properties["parity_max_abs_err"]) < 1e-3


@pytest.mark.slow
def test_gate_runs_every_other_quantization_mode(pytester, tmp_path, monkeypatch):
    """fp16, weight-only-int8 and static-int8 through the gate on the upstream checkpoint
    (fp32 and dynamic-int8, the defaults, run in the test above)."""
    from tests.helpers import CHECKPOINT, CONFIG

    monkeypatch.setenv("SIGNBART_PARITY_PROFILE", "ci")
    modes = "fp16,weight-only-int8,static-int8"
    result = run_gate(
        pytester,
        tmp_path,
        f"--parity-checkpoint={CHECKPOINT}",
        f"--parity-config={CONFIG}",
        "--parity-seq-lens=16",
        f"--parity-quantization={modes}",
    )
    # 3 targets; bucket (one seq_len) and baseline (none given) skip.
    report = read_report(pytester)
    assert_gate_ran(result, report, targets=3, skipped=3)
    assert {r["quantization"] for r in report["results"]} == set(modes.split(","))
    assert report["conversions"] == 4  # one fp32 export, three quantizations of it


@pytest.mark.slow
def test_a_run_rooted_above_where_it_started_writes_no_pytest_cache_there(tmp_path):
    """pytest roots a run at the common folder of its paths (no ini there: here the folder
    above the checkout); the plugin keeps pytest's cache out of that folder, which is not
    the user's. Rooted where it started, pytest caches as usual."""
    import subprocess
    import sys

    checkout = tmp_path / "checkout"
    for folder, name in (("a", "test_one"), ("b", "test_two"), ("checkout", "test_three")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{name}.py").write_text(f"def {name}():\n    pass\n")

    def pytest_in(folder, *paths):
        command = [sys.executable, "-m", "pytest", "-q", *paths]
        return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)

    above = pytest_in(checkout, "../a/test_one.py", "../b/test_two.py")
    assert above.returncode == 0 and "2 passed" in above.stdout, above.stdout + above.stderr
    assert not (tmp_path / ".pytest_cache").exists()
    here = pytest_in(checkout, "test_three.py")
    assert here.returncode == 0, here.stdout + here.stderr
    assert (checkout / ".pytest_cache").is_dir()

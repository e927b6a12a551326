"""The plugin's options and validation, caching across sessions, xdist, both runtimes,
the upstream checkpoint, and the per-test numbers in JUnit XML."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest

GATE = "--pyargs signbart_parity.gate -p no:cacheprovider".split()


def run_gate(pytester, tmp_path, *options: str):
    """The gate in a subprocess (torch and litert-torch cannot be imported twice in one)."""
    cache = ["--parity-cache", str(tmp_path / "cache"), "--parity-report", "report"]
    return pytester.runpytest_subprocess(*GATE, *cache, *options)


def read_report(pytester) -> dict:
    return json.loads((pytester.path / "report" / "parity.json").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seq-lens", "16,abc"], "*not a comma-separated list of whole numbers*"),
        (["--seq-lens", "0"], "*sequence lengths must be positive*"),
        (["--seq-lens", "300"], "*300 exceeds max_position_embeddings 256*"),
        (["--quantization", "int3"], "*unknown value 'int3'*"),
        (["--runtime", "onnx"], "*unknown value 'onnx'*"),
        (["--checkpoint", "missing.pth"], "*missing.pth: file not found*"),
        (["--config", "missing.yaml"], "*missing.yaml: config file not found*"),
        (["--baseline", "missing.tflite"], "*--baseline: missing.tflite: .tflite file not found*"),
        (["--max-flip-rate", "2"], "*expected a share between 0 and 1*"),
    ],
)
def test_bad_option_values_are_usage_errors(pytester, args, message):
    result = pytester.runpytest_inprocess("--pyargs", "signbart_parity.gate", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_options_are_documented_in_one_group(pytester):
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines([
        "*SignBart PyTorch vs TFLite parity gate*",
        "*--checkpoint=PATH*embedded default model*",
        "*--seq-lens=T,T*Default: 16,64*",
        "*--quantization=Q,Q*Default: none,dynamic-int8*",
        "*--baseline=TFLITE*",
    ])


@pytest.mark.slow
def test_second_identical_run_converts_nothing(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNBART_PARITY_PROFILE", "dev")
    options = ["--seq-lens", "8,16", "--quantization", "none,dynamic-int8"]
    reports = []
    for _ in range(2):
        # 4 targets x 6 tests + 2 bucket pairs; the baseline test skips (none given).
        run_gate(pytester, tmp_path, *options).assert_outcomes(passed=26, skipped=1)
        reports.append(read_report(pytester))
    assert (reports[0]["conversions"], reports[0]["cache_hits"]) == (4, 0)
    assert (reports[1]["conversions"], reports[1]["cache_hits"]) == (0, 4)


@pytest.mark.slow
def test_xdist_workers_convert_each_artifact_once(pytester, tmp_path):
    """Two workers, two runtimes: each file is converted once, and both runtimes agree."""
    options = ["-n", "2", "--seq-lens", "8,16", "--quantization", "none",
               "--runtime", "litert,tensorflow", "--hypothesis-profile", "dev"]
    run_gate(pytester, tmp_path, *options).assert_outcomes(passed=26, skipped=1)
    report = read_report(pytester)
    assert report["conversions"] == 2, report
    assert {(r["seq_len"], r["runtime"]) for r in report["results"]} == {
        (8, "litert"), (16, "litert"), (8, "tensorflow"), (16, "tensorflow")
    }


@pytest.mark.slow
def test_gate_passes_on_the_upstream_fixture_checkpoint(pytester, tmp_path, monkeypatch):
    """The release gate as an ML engineer runs it on a published checkpoint and config."""
    from tests.helpers import CHECKPOINT, CONFIG

    monkeypatch.setenv("SIGNBART_PARITY_PROFILE", "ci")
    result = run_gate(pytester, tmp_path, "--checkpoint", str(CHECKPOINT),
                      "--config", str(CONFIG), "--junitxml", "junit.xml")
    result.assert_outcomes(passed=26, skipped=1)
    report = read_report(pytester)
    assert report["passed"] and report["checkpoint"]["path"] == str(CHECKPOINT)
    assert {(r["seq_len"], r["quantization"]) for r in report["results"]} == {
        (16, "none"), (16, "dynamic-int8"), (64, "none"), (64, "dynamic-int8")
    }
    assert sum(r["examples"] for r in report["results"]) >= 200
    for row in report["results"]:
        # Error columns and plots are TFLite against PyTorch; the rest is tallied per check.
        assert {s["property"] for s in row["samples"]} == {"parity", "real-sample"}
        expected = {"parity", "padding", "determinism", "real-sample", "agreement"}
        assert set(row["checks"]) == expected | ({"bucket"} if row["seq_len"] == 64 else set())
        # hypothesis examples + the real sample + the fixed agreement batch
        assert row["top1_compared"] == row["checks"]["parity"]["examples"] + 1 + 72
        assert row["latency_ms"] > 0
    fp32 = [r for r in report["results"] if r["quantization"] == "none"]
    # TFLite fp32 error is of the order of PyTorch fp32's own error against float64.
    assert all(r["tflite_oracle_max_abs_err"] < 20 * r["oracle_max_abs_err"] for r in fp32)
    # Per-test numbers reach the JUnit XML as properties.
    cases = ElementTree.parse(pytester.path / "junit.xml").iter("testcase")
    case = next(c for c in cases if "test_logits_match_pytorch" in c.get("name"))
    numbers = {p.get("name"): float(p.get("value")) for p in case.iter("property")}
    assert numbers["parity_examples"] >= 25 and numbers["parity_failed_examples"] == 0
    assert 0 < numbers["parity_max_abs_err"] < 1e-3


@pytest.mark.slow
def test_gate_runs_every_other_quantization_mode(pytester, tmp_path, monkeypatch):
    """fp16, weight-only-int8 and static-int8 through the gate on the upstream checkpoint
    (fp32 and dynamic-int8, the defaults, run in the test above)."""
    from tests.helpers import CHECKPOINT, CONFIG

    monkeypatch.setenv("SIGNBART_PARITY_PROFILE", "dev")
    modes = "fp16,weight-only-int8,static-int8"
    result = run_gate(pytester, tmp_path, "--checkpoint", str(CHECKPOINT), "--config",
                      str(CONFIG), "--seq-lens", "16", "--quantization", modes)
    # 3 targets x 6 tests; bucket (one seq_len) and baseline (none given) skip.
    result.assert_outcomes(passed=18, skipped=2)
    report = read_report(pytester)
    assert {r["quantization"] for r in report["results"]} == set(modes.split(","))
    assert report["conversions"] == 4  # one fp32 export, three quantizations of it

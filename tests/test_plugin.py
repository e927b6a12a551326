"""The plugin's options, validation, caching across sessions and xdist behaviour."""

from __future__ import annotations

import json

import pytest


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
    ],
)
def test_bad_option_values_are_usage_errors(pytester, args, message):
    result = pytester.runpytest_inprocess("--pyargs", "signbart_parity.gate", *args)
    assert result.ret in (pytest.ExitCode.USAGE_ERROR, 4)
    result.stderr.fnmatch_lines([message])


def test_options_are_documented_in_one_group(pytester):
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "*SignBart PyTorch vs TFLite parity gate*",
            "*--checkpoint=PATH*embedded default model*",
            "*--seq-lens=T,T*Default: 16,64*",
            "*--quantization=Q,Q*Default: none,dynamic-int8*",
        ]
    )


@pytest.mark.slow
def test_second_identical_run_converts_nothing(pytester, tmp_path, monkeypatch):

    monkeypatch.setenv("SIGNBART_PARITY_PROFILE", "dev")
    args = [
        "--pyargs",
        "signbart_parity.gate",
        "-p",
        "no:cacheprovider",
        "--seq-lens",
        "8,16",
        "--quantization",
        "none,dynamic-int8",
        "--parity-cache",
        str(tmp_path / "cache"),
        "--parity-report",
        "report",
    ]
    reports = []
    for _ in range(2):
        pytester.runpytest_subprocess(*args).assert_outcomes(passed=22)
        reports.append(json.loads((pytester.path / "report" / "parity.json").read_text()))
    assert (reports[0]["conversions"], reports[0]["cache_hits"]) == (4, 0)
    assert (reports[1]["conversions"], reports[1]["cache_hits"]) == (0, 4)


@pytest.mark.slow
def test_xdist_workers_convert_each_artifact_once(pytester, tmp_path):
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "--pyargs",
        "signbart_parity.gate",
        "-p",
        "no:cacheprovider",
        "--seq-lens",
        "8,16",
        "--quantization",
        "none",
        "--parity-cache",
        str(tmp_path / "cache"),
        "--parity-report",
        "report",
        "--hypothesis-profile",
        "dev",
    )
    result.assert_outcomes(passed=11)
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    assert report["conversions"] == 2, report
    assert {(r["seq_len"], r["quantization"]) for r in report["results"]} == {
        (8, "none"),
        (16, "none"),
    }


@pytest.mark.slow
def test_gate_passes_on_the_upstream_fixture_checkpoint(pytester, tmp_path, monkeypatch):
    """The release gate as an ML engineer runs it on a published checkpoint and config."""
    from tests.helpers import CHECKPOINT, CONFIG

    monkeypatch.setenv("SIGNBART_PARITY_PROFILE", "ci")
    result = pytester.runpytest_subprocess(
        "--pyargs",
        "signbart_parity.gate",
        "-p",
        "no:cacheprovider",
        "--checkpoint",
        str(CHECKPOINT),
        "--config",
        str(CONFIG),
        "--parity-cache",
        str(tmp_path / "cache"),
        "--parity-report",
        "report",
    )
    result.assert_outcomes(passed=22)
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    assert report["passed"] and report["checkpoint"]["path"] == str(CHECKPOINT)
    assert {(r["seq_len"], r["quantization"]) for r in report["results"]} == {
        (16, "none"),
        (16, "dynamic-int8"),
        (64, "none"),
        (64, "dynamic-int8"),
    }
    assert sum(r["examples"] for r in report["results"]) >= 200
    for row in report["results"]:
        # Error columns and plots are TFLite against PyTorch; the rest is tallied per check.
        assert {s["property"] for s in row["samples"]} == {"parity", "real-sample"}
        expected = {"parity", "padding", "determinism", "real-sample"}
        assert set(row["checks"]) == expected | ({"bucket"} if row["seq_len"] == 64 else set())
        assert row["top1_compared"] == row["checks"]["parity"]["examples"] + 1
    fp32 = [r for r in report["results"] if r["quantization"] == "none"]
    # TFLite fp32 error is of the order of PyTorch fp32's own error against float64.
    assert all(r["tflite_oracle_max_abs_err"] < 20 * r["oracle_max_abs_err"] for r in fp32)

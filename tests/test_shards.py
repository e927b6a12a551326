"""``--parity-shard K/N``: the split of the target matrix, its option, and ``report merge``
refusing what is not every shard of one run (fast: no conversion; the real gate runs as
shards in tests/test_ci.py)."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pytest

from signbart_parity.cli.main import main
from signbart_parity.reports import write as report_files
from signbart_parity.reports.merge import merge_reports
from signbart_parity.reports.model import Report
from signbart_parity.shards import CONVERSION_COST, plan, run_cost
from signbart_parity.targets import Target
from tests.test_report import fake_report, fake_row

LANES = ("litert", "tflite-runtime==2.14.0", "litert@arm64", "compiled@gpu")


def matrix(seq_lens=(16, 64), precisions=("none", "dynamic-int8"), runtimes=("litert",)):
    return [Target(*values) for values in itertools.product(seq_lens, precisions, runtimes)]


def cost(targets: list[Target]) -> float:
    """A shard's expected cost as the planner counts it: a conversion per seq_len."""
    return CONVERSION_COST * len({t.seq_len for t in targets}) + sum(map(run_cost, targets))


# ---------------------------------------------------------------- the split


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_every_target_runs_in_exactly_one_shard_the_same_on_every_machine(count):
    targets = matrix(runtimes=LANES)
    shards = plan(targets, count)
    assert sorted(itertools.chain(*shards)) == sorted(targets)
    assert all(shards), shards
    assert plan(list(reversed(targets)), count) == shards  # input order does not matter


def test_a_conversion_stays_in_one_shard_when_there_are_enough_of_them():
    shards = plan(matrix(seq_lens=(16, 32, 64)), 3)
    assert [{t.seq_len for t in shard} for shard in shards] == [{16}, {32}, {64}]


def test_fewer_conversions_than_shards_split_a_seq_len_along_precisions():
    """2 seq_lens for 3 shards: one seq_len is split, never a quantized file, and only that
    one fp32 conversion is made twice."""
    targets = matrix(runtimes=("litert", "tensorflow"), precisions=("none", "dynamic-int8"))
    shards = plan(targets, 3)
    files = [{(t.seq_len, t.quantization) for t in shard} for shard in shards]
    assert sum(len(f) for f in files) == len(set().union(*files)) == 4
    assert sum(len({t.seq_len for t in shard}) for shard in shards) == 3


def test_emulated_and_pinned_lanes_weigh_more_and_the_split_balances_them():
    assert run_cost(Target(16, "none", "litert@arm64")) > CONVERSION_COST
    assert run_cost(Target(16, "none", "litert")) < run_cost(Target(16, "none", "compiled@gpu"))
    assert run_cost(Target(16, "none", "litert")) < run_cost(
        Target(16, "none", "tflite-runtime==2.14.0")
    )
    targets = matrix(runtimes=LANES)
    shards = plan(targets, 3)
    loads = [cost(shard) for shard in shards]
    # Each arm64 target alone outweighs a conversion: they spread over the shards.
    assert sorted(sum(t.spec.arch is not None for t in shard) for shard in shards) == [1, 1, 2]
    assert max(loads) <= 1.3 * sum(loads) / 3, loads


# ---------------------------------------------------------------- the option


@pytest.mark.parametrize("value", ["0/3", "4/3", "a/b", "2", "1/0", "-1/2"])
def test_a_bad_shard_is_one_usage_error_before_any_test(pytester, value):
    result = pytester.runpytest_inprocess(
        "--pyargs", "signbart_parity.gate", f"--parity-shard={value}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--parity-shard*expected K/N with 1 <= K <= N*"])


def test_more_shards_than_targets_is_one_usage_error(pytester, tmp_path):
    result = pytester.runpytest_inprocess(
        "--pyargs",
        "signbart_parity.gate",
        "--parity-shard=5/5",
        f"--parity-cache={tmp_path / 'cache'}",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
    assert len(errors) == 1, result.stderr.lines
    assert "--parity-shard 5/5: the gate has 4 target(s)" in errors[0]
    assert "at most 4 shards" in errors[0]


# ---------------------------------------------------------------- merge


IDENTITY = {
    "weights": "ab" * 32,
    "config": "cd" * 32,
    "options": {"seq_lens": [16, 64], "precisions": ["fp32"], "runtimes": ["litert"]},
    "tool": "0.1.0",
}


def shards_of_one_run(count: int = 3) -> tuple[Report, list[Report]]:
    """A whole run (one target per shard) and its ``count`` shards."""
    rows = [fake_row(16 * (i + 1), "none", "litert") for i in range(count)]
    whole = fake_report(rows)
    whole.run = copy.deepcopy(IDENTITY)
    shards = []
    for index, row in enumerate(rows):
        shard = fake_report([row])
        shard.run, shard.shard = copy.deepcopy(IDENTITY), f"{index + 1}/{count}"
        shards.append(shard)
    return whole, shards


def merge_files(tmp_path: Path, reports: list[Report], capsys) -> tuple[int, str, list[str]]:
    """``report merge`` on the reports written as files: (exit code, stderr, file names)."""
    paths = []
    for index, report in enumerate(reports):
        report_files.write_report(report, tmp_path / f"in{index}")
        paths.append(str(tmp_path / f"in{index}" / "parity.json"))
    code = main(["report", "merge", *paths, "--output", str(tmp_path / "merged")])
    return code, capsys.readouterr().err, paths


def test_shards_merge_in_shard_order_into_the_whole_run(monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    whole, shards = shards_of_one_run()
    merged = merge_reports([shards[2], shards[0], shards[1]], sources=["c", "a", "b"])
    assert [r.to_dict() for r in merged.rows] == [r.to_dict() for r in whole.rows]
    assert [o.to_dict() for o in merged.outcomes] == [o.to_dict() for o in whole.outcomes]
    assert merged.passed and merged.headline() == whole.headline()
    assert merged.run == whole.run and merged.shard is None


@pytest.mark.parametrize(
    ("pick", "expected"),
    [
        ((0, 2), "missing shard 2/3 of the run (given: 1/3 {0}, 3/3 {1})"),
        ((0, 1, 1, 2), "shard 2/3 is given twice ({1} and {2})"),
    ],
)
def test_a_missing_or_repeated_shard_is_refused_with_one_line(
    tmp_path, capsys, monkeypatch, pick, expected
):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    _, shards = shards_of_one_run()
    code, err, paths = merge_files(tmp_path, [shards[i] for i in pick], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert expected.format(*paths) in err
    assert not (tmp_path / "merged").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.run.update(weights="ef" * 32), "weights is efefefefefef"),
        (lambda r: r.run["options"].update(runtimes=["tensorflow"]), "options.runtimes"),
        (lambda r: r.run.update(tool="0.2.0"), "tool is 0.2.0"),
        (lambda r: setattr(r, "shard", "2/4"), "shard count is 4"),
    ],
)
def test_a_shard_of_another_run_is_refused_naming_the_field_and_files(
    tmp_path, capsys, monkeypatch, change, field
):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    _, shards = shards_of_one_run()
    change(shards[1])
    code, err, paths = merge_files(tmp_path, shards, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{paths[1]} is a shard of another run: its {field}" in err
    assert paths[0] in err


def test_a_whole_run_and_a_shard_or_two_whole_runs_are_refused(tmp_path, capsys, monkeypatch):
    """Two runs of one checkpoint merged once counted every example twice (204 = 102 + 102)."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    whole, shards = shards_of_one_run()
    code, err, paths = merge_files(tmp_path / "a", [whole, shards[0]], capsys)
    assert code == 2 and f"{paths[0]} is a whole run but {paths[1]} is shard 1/3" in err
    code, err, paths = merge_files(tmp_path / "b", [whole, copy.deepcopy(whole)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{paths[0]} and {paths[1]} both checked 16|fp32|litert" in err


def test_whole_runs_of_other_targets_still_merge(monkeypatch):
    """The merge that worked before shards: one run per runtime, merged into one report."""
    first, second = (
        fake_report([fake_row(16, "none", "litert")]),
        fake_report([fake_row(16, "none", "tensorflow")]),
    )
    for report, runtime in ((first, "litert"), (second, "tensorflow")):
        report.run = copy.deepcopy(IDENTITY)
        report.run["options"]["runtimes"] = [runtime]
    merged = merge_reports([first, second])
    assert [row.target.runtime for row in merged.rows] == ["litert", "tensorflow"]
    assert merged.passed

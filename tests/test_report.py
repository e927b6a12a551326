"""parity.md / parity.html rendering, shard merging, and the ``report merge`` command."""

from __future__ import annotations

import copy
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from signbart_parity.cli.main import main
from signbart_parity.errors import ReportError
from signbart_parity.inputs.masks import MASK_KINDS, mask_patterns, summarise
from signbart_parity.reports import write as report
from signbart_parity.reports.markdown import render_markdown
from signbart_parity.reports.merge import merge_reports
from signbart_parity.reports.model import Outcome, Report, Row
from signbart_parity.targets import Target

CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None
)


def fake_row(seq_len: int, quantization: str, runtime: str, *, fail: bool = False) -> Row:
    """A row shaped like the gate's, with plausible per-example errors."""
    rng = np.random.default_rng(seq_len * 7 + len(quantization) + len(runtime))
    base = 5e-7 if quantization == "none" else 1e-2
    bound = 2e-4 if quantization == "none" else 0.05 * 5.0  # fp32 at logits ~1; 5% of scale 5
    samples = []
    for index in range(60):
        mask = mask_patterns(seq_len)[MASK_KINDS[index % len(MASK_KINDS)]]
        failed = fail and index % 5 == 0
        err = 0.4 if failed else float(base * 10 ** rng.normal(0, 0.4))
        samples.append(
            {
                "abs_err": err,
                "bound_ratio": err / bound,
                "valid_frames": int(mask.sum()),
                "mask": summarise(mask),
                "property": ("parity", "padding", "determinism")[index % 3],
                "passed": not failed,
            }
        )
    worst = sorted(samples, key=lambda s: -s["abs_err"])[:5]
    fp32 = quantization == "none"
    return Row(
        Target(seq_len, quantization, runtime),
        passed=not fail,
        examples=len(samples),
        max_abs_err=max(s["abs_err"] for s in samples),
        max_rel_err=1e-5,
        top1_agreed=54 if fail else 60,
        top1_compared=60,
        oracle_max_abs_err=4e-7 if fp32 else None,
        tflite_oracle_max_abs_err=5e-7 if fp32 else None,
        size_bytes=2_960_000 if fp32 else 920_000,
        bound_ratio=max(s["abs_err"] for s in samples) / bound,
        logit_scale=None if fp32 else 5.0,
        samples=samples,
        worst=[w | {"message": "PARITY VIOLATED: worst example"} for w in worst],
    )


def outcomes_for(row: Row, *, failed_check: str | None = None) -> list[Outcome]:
    """The gate tests of one target: all passed, except ``failed_check``."""
    return [
        Outcome(
            f"test_gate.py::test_{check}[{row.target}]",
            "failed" if check == failed_check else "passed",
            check=check,
            target=row.target,
            message="PARITY VIOLATED: 12 examples" if check == failed_check else "",
        )
        for check in ("parity", "padding", "determinism")
    ]


def fake_report(
    rows: list[Row],
    *,
    outcomes: list[Outcome] | None = None,
    conversions: int = 3,
    duration: float = 30.0,
) -> Report:
    if outcomes is None:
        outcomes = [
            o
            for row in rows
            for o in outcomes_for(row, failed_check=None if row.passed else "parity")
        ]
    return Report(
        kind="gate",
        checkpoint={"path": "state_dict.pth", "sha256": "ab" * 32},
        config={"path": "config.yaml", "sha256": "cd" * 32, "values": {"d_model": 144}},
        environment={"python": "3.12", "torch": "2.13.0+cpu", "numpy": "2.4"},
        tolerances={"none": "|diff| <= 1e-4 + 1e-4*|torch|"},
        rows=rows,
        outcomes=outcomes,
        conversions=conversions,
        cache_hits=1,
        duration_s=duration,
    )


ALL_RESULTS = [
    ("none", "litert", 16),
    ("dynamic-int8", "litert", 16),
    ("none", "litert", 64),
    ("none", "tensorflow", 64),
    ("dynamic-int8", "litert", 64),
]


@pytest.fixture
def single_run() -> Report:
    rows = [fake_row(t, q, r, fail=(r == "tensorflow")) for q, r, t in ALL_RESULTS]
    return fake_report(sorted(rows, key=lambda row: row.target), conversions=4, duration=40.0)


@pytest.fixture
def written(tmp_path: Path, single_run: Report, monkeypatch) -> Path:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    report.write_report(single_run, tmp_path / "out")
    return tmp_path / "out"


def test_write_report_writes_the_three_files(written: Path, single_run: Report) -> None:
    assert sorted(p.name for p in written.iterdir()) == sorted(report.REPORT_FILES)
    data = json.loads((written / "parity.json").read_text())
    assert data == json.loads(json.dumps(single_run.to_dict()))
    assert data["schema"] == 2 and data["passed"] is False
    assert Report.from_dict(data).to_dict() == data | {"created": single_run.created}
    assert not list(written.glob(".*partial"))


def test_markdown_has_one_row_per_result_and_the_versions(written: Path) -> None:
    markdown = (written / "parity.md").read_text()
    rows = [line for line in markdown.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == len(ALL_RESULTS)
    assert rows[0].startswith("| 16 | fp32 | litert | 60 |")
    assert "**FAIL**" in markdown and "FAIL: 1 failed, 0 errored, 14 checks passed" in markdown
    assert "1/5 configurations fail" in markdown
    assert "4.00e-07 / 5.00e-07" in markdown  # the float64-oracle baseline
    assert "versions: python 3.12, torch 2.13.0+cpu" in markdown
    assert "FAILED parity (seq_len 64, fp32, tensorflow): PARITY VIOLATED" in markdown


def test_markdown_is_appended_to_the_github_step_summary(
    tmp_path: Path, single_run: Report, monkeypatch
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report.write_report(single_run, tmp_path / "out")
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "SignBart TFLite parity" in text


def test_html_is_self_contained(written: Path) -> None:
    page = (written / "parity.html").read_text()
    for forbidden in ("http://", "https://", "<script", "<link", "src=", "@import"):
        assert forbidden not in page, f"parity.html contains {forbidden!r}"
    assert page.count('<svg class="plot histogram"') == len(ALL_RESULTS)
    assert page.count('<svg class="plot scatter"') == 1


# ---------------------------------------------------------------- the verdict


def clean_run() -> Report:
    rows = [fake_row(t, q, r) for q, r, t in ALL_RESULTS]
    return fake_report(sorted(rows, key=lambda row: row.target))


def verdicts(data: Report, directory: Path) -> tuple[bool, str, str]:
    """What every written artifact says: parity.json "passed", md and html headlines."""
    report.write_report(data, directory)
    written = json.loads((directory / "parity.json").read_text())
    markdown = (directory / "parity.md").read_text().splitlines()[0]
    page = (directory / "parity.html").read_text()
    badge = re.search(r'<span class="badge (\w+)">(\w+)</span>', page)
    assert badge and badge.group(2) == badge.group(1).upper()
    return written["passed"], markdown.split("— ", 1)[1].split(":")[0], badge.group(2)


def test_a_clean_run_says_pass_everywhere(tmp_path: Path) -> None:
    assert verdicts(clean_run(), tmp_path) == (True, "PASS", "PASS")


@pytest.mark.parametrize("outcome", ["failed", "error"])
def test_a_failed_or_errored_check_says_fail_though_every_row_passed(
    tmp_path: Path, outcome: str
) -> None:
    data = clean_run()
    data.outcomes[4].outcome, data.outcomes[4].message = outcome, "boom"
    assert all(row.passed for row in data.rows)  # the numbers alone would say PASS
    assert verdicts(data, tmp_path) == (False, "FAIL", "FAIL")
    line = f"{outcome.upper()} padding (seq_len 16, fp32, litert): boom"
    assert line in (tmp_path / "parity.md").read_text()
    assert line in (tmp_path / "parity.html").read_text()


def test_a_failed_check_without_numbers_still_shows_as_a_failed_row(tmp_path: Path) -> None:
    data = clean_run()
    never_recorded = Target(32, "none", "litert")
    data.outcomes.append(
        Outcome("test_gate.py::test_padding[x]", "error", "padding", never_recorded, "boom")
    )
    rows = Report.from_dict(data.to_dict()).to_dict()["results"]
    (row,) = [r for r in rows if r["seq_len"] == 32]
    assert row["passed"] is False and row["examples"] == 0
    assert verdicts(data, tmp_path)[0] is False
    assert "| 32 | fp32 | litert | 0 |" in (tmp_path / "parity.md").read_text()


def test_a_run_where_nothing_was_checked_or_that_stopped_says_fail(tmp_path: Path) -> None:
    skipped = clean_run()
    for outcome in skipped.outcomes:
        outcome.outcome, outcome.message = "skipped", "not applicable"
    assert verdicts(skipped, tmp_path)[0] is False
    assert "NOT CHECKED" in (tmp_path / "parity.md").read_text()
    interrupted = clean_run()
    interrupted.incomplete = "interrupted"
    assert verdicts(interrupted, tmp_path / "b")[0] is False


def test_skipped_checks_are_listed_as_not_checked(tmp_path: Path) -> None:
    data = clean_run()
    data.outcomes.append(
        Outcome(
            "t::test_real",
            "skipped",
            "real-sample",
            Target(16, "none", "litert"),
            "real samples: not checked: the bundled sample has 90 keypoints",
        )
    )
    assert verdicts(data, tmp_path)[0] is True  # announced, so the verdict stands
    markdown = (tmp_path / "parity.md").read_text()
    assert "1 NOT CHECKED" in markdown.splitlines()[0]
    line = (
        "real-sample: NOT CHECKED on seq_len 16, fp32, litert: the bundled sample has 90 keypoints"
    )
    assert line in markdown
    assert line in (tmp_path / "parity.html").read_text()


def test_a_report_file_that_says_fail_is_read_as_fail() -> None:
    data = clean_run().to_dict() | {"passed": False}
    assert Report.from_dict(data).passed is False


# ---------------------------------------------------------------- merging


def test_merged_shards_equal_the_single_run(single_run: Report) -> None:
    """CI-matrix shards: disjoint targets."""
    rows = single_run.rows
    shard_a = fake_report([rows[i] for i in (3, 0)], conversions=1, duration=25)
    shard_b = fake_report([rows[i] for i in (4, 1, 2)], conversions=3, duration=15)
    merged = merge_reports([shard_b, shard_a])
    assert [r.to_dict() for r in merged.rows] == [r.to_dict() for r in single_run.rows]
    assert merged.passed is False
    assert merged.conversions == 4 and merged.cache_hits == 2
    assert merged.duration_s == 25  # documented: the slowest shard (shards run in parallel)
    assert merged.shard_durations_s == [15, 25]
    assert render_markdown(merged).splitlines()[4:] == render_markdown(single_run).splitlines()[4:]


def test_merge_of_a_failing_and_a_passing_shard_says_fail(tmp_path: Path, capsys) -> None:
    passing = clean_run()
    failing = clean_run()
    failing.outcomes[0].outcome = "failed"
    assert passing.passed and not failing.passed
    paths = []
    for name, shard in (("pass", passing), ("fail", failing)):
        report.write_report(shard, tmp_path / name)
        paths.append(str(tmp_path / name / "parity.json"))
    code = main(["report", "merge", *paths, "--output", str(tmp_path / "merged")])
    assert code == 1
    merged = json.loads((tmp_path / "merged" / "parity.json").read_text())
    assert merged["passed"] is False
    assert (
        (tmp_path / "merged" / "parity.md")
        .read_text()
        .startswith("## SignBart TFLite parity — FAIL")
    )


def _split_row(row: Row, at: int) -> tuple[Row, Row]:
    """One target's row as two xdist workers would have recorded it."""
    halves = []
    for samples in (row.samples[:at], row.samples[at:]):
        half = copy.deepcopy(row)
        half.samples = samples
        half.examples = len(samples)
        half.max_abs_err = max(s["abs_err"] for s in samples)
        half.passed = all(s["passed"] for s in samples)
        half.worst = [w for w in row.worst if any(w["abs_err"] == s["abs_err"] for s in samples)]
        half.top1_agreed, half.top1_compared = (row.top1_agreed // 2, row.top1_compared // 2)
        halves.append(half)
    return halves[0], halves[1]


def test_workers_rows_of_one_target_combine_into_the_single_runs_row(single_run: Report) -> None:
    """pytest-xdist workers: every worker holds rows for the same targets."""
    rows = single_run.rows
    index = next(i for i, r in enumerate(rows) if r.target.runtime == "tensorflow")
    tensorflow_row = rows[index]
    first, second = _split_row(tensorflow_row, 13)
    others = [r for r in rows if r is not tensorflow_row]
    shard_a = fake_report(others[:3] + [first], outcomes=single_run.outcomes[:9])
    shard_b = fake_report([second] + others[3:], outcomes=single_run.outcomes[9:])
    merged = merge_reports([shard_a, shard_b])
    assert [r.target for r in merged.rows] == [r.target for r in rows]
    combined = merged.rows[index]
    for key in (
        "examples",
        "max_abs_err",
        "passed",
        "samples",
        "worst",
        "size_bytes",
        "top1_compared",
    ):
        assert getattr(combined, key) == getattr(tensorflow_row, key), key
    assert merged.passed is False


def test_merge_refuses_shards_of_another_checkpoint(single_run: Report) -> None:
    other = copy.deepcopy(single_run)
    other.checkpoint["sha256"] = "ef" * 32
    with pytest.raises(ReportError, match="checkpoint"):
        merge_reports([single_run, other])
    with pytest.raises(ReportError, match="no reports"):
        merge_reports([])


def test_report_merge_command(tmp_path: Path, single_run: Report, capsys) -> None:
    paths = []
    rows, outcomes = single_run.rows, single_run.outcomes
    for index, part in enumerate(((rows[:2], outcomes[:6]), (rows[2:], outcomes[6:]))):
        path = tmp_path / f"shard{index}"
        report.write_report(fake_report(part[0], outcomes=part[1], duration=20), path)
        paths.append(str(path / "parity.json"))
    code = main(["report", "merge", *paths, "--output", str(tmp_path / "merged")])
    assert code == 1  # the merged run failed (the tensorflow result); files are still written
    merged = json.loads((tmp_path / "merged" / "parity.json").read_text())
    assert merged["results"] == json.loads(json.dumps(single_run.to_dict()))["results"]
    assert (tmp_path / "merged" / "parity.html").is_file()
    assert "merged 2 reports" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content", [None, "not json {", '{"schema": 2}', "[1, 2]", '{"schema": 1, "results": []}']
)
def test_report_merge_bad_input_exits_2_with_one_line(
    tmp_path: Path, content: str | None, capsys
) -> None:
    bad = tmp_path / "parity.json"
    if content is not None:
        bad.write_text(content)
    code = main(["report", "merge", str(bad), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(bad) in err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- headless browser


def _png_pixels(png: bytes) -> tuple[int, int, bytes]:
    """(width, height, zlib-inflated scanlines) of a PNG, read with the standard library."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, width, height, data = 8, 0, 0, b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        chunk = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            data += chunk
        position += 12 + length
    return width, height, zlib.decompress(data)


def _chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=False)


@pytest.mark.needs_chromium
def test_html_renders_in_headless_chromium(written: Path, tmp_path: Path) -> None:
    url = (written / "parity.html").resolve().as_uri()
    shot = tmp_path / "shot.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1200,1600", url, tmp_path=tmp_path)
    assert shot.is_file(), done.stderr.decode(errors="replace")[-2000:]
    width, height, scanlines = _png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 1600)
    # A blank page filters to (almost) all-zero scanlines; a drawn one does not.
    nonzero = sum(1 for byte in scanlines[::97] if byte)
    assert nonzero / len(scanlines[::97]) > 0.01, "the screenshot is blank"
    from PIL import Image  # a declared dev dependency: the colour check always runs

    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    counts = {colour: count for count, colour in colours}
    non_white = sum(count for colour, count in counts.items() if colour != (255, 255, 255))
    assert non_white > 0.02 * width * height
    fp32_blue = (0x32, 0x66, 0xC8)
    assert counts.get(fp32_blue, 0) > 200, "the fp32 histogram bars are not visible"

    dom = _chromium("--dump-dom", url, tmp_path=tmp_path).stdout.decode()
    assert dom.count('class="plot histogram"') == len(ALL_RESULTS)
    assert 'class="plot scatter"' in dom
    assert dom.count("<circle") >= 60 * len(ALL_RESULTS)
    assert "<table>" in dom and ">FAIL<" in dom and "right-padded" in dom


def test_a_file_that_cannot_be_timed_keeps_the_report_and_says_so(tmp_path: Path) -> None:
    """Latency is measured after the tests; a file that no longer loads must not cost the
    report (an exception in sessionfinish would leave no report at all)."""
    from signbart_parity.gate.run import GateRun, measure_latency
    from signbart_parity.model.checkpoint import load_model
    from tests.helpers import write_model

    config, checkpoint = write_model(tmp_path, keypoints=90, labels=5)
    row = fake_row(16, "none", "litert")
    row.file = str(tmp_path / "replaced.tflite")
    Path(row.file).write_bytes(b"not a flatbuffer")
    data = fake_report([row])
    measure_latency(GateRun(loaded=load_model(config, checkpoint)), data)
    assert row.latency_ms is None
    assert "Not measured (seq_len 16, fp32, litert: " in data.timing["note"]
    assert data.torch_latency_ms["16"] > 0  # the PyTorch side was still timed
    assert data.passed  # timing is information: the verdict is the tests'


# ---------------------------------------------------------------- headroom and not checked


def headroom_report() -> tuple[Report, dict[Target, object]]:
    """Rows built the way both doors build them (``Row.add`` of real comparisons): fp32 with
    an absolute bound, dynamic-int8 with a bound relative to each example's logit scale."""
    from signbart_parity.checks.compare import compare_logits
    from signbart_parity.checks.tolerances import tolerance_for

    rng = np.random.default_rng(17)
    masks = np.stack([mask_patterns(16)[kind] for kind in MASK_KINDS])
    rows, comparisons = [], {}
    for quantization, noise in (("none", 3e-5), ("dynamic-int8", 0.08)):
        target = Target(16, quantization, "litert")
        reference = rng.normal(0, 3, (len(masks), 7))
        candidate = reference + rng.uniform(-noise, noise, reference.shape)
        comparison = compare_logits(reference, candidate, tolerance_for(quantization), masks=masks)
        row = Row(target)
        row.add("parity", comparison, masks)
        rows.append(row)
        comparisons[target] = comparison
    outcomes = [o for row in rows for o in outcomes_for(row)]
    return fake_report(rows, outcomes=outcomes), comparisons


def test_rows_record_their_worst_examples_bound_ratio_and_logit_scale() -> None:
    from signbart_parity.reports.row import Row as RowType

    data, comparisons = headroom_report()
    for row in data.rows:
        comparison = comparisons[row.target]
        assert row.bound_ratio == comparison.bound_ratio and 0 < row.bound_ratio < 1
        worst = int(np.argmax(comparison.example_bound_ratio))
        if row.target.quantization == "none":
            assert row.logit_scale is None  # an absolute bound: no scale to show
        else:
            assert row.logit_scale == pytest.approx(max(1.0, comparison.example_logit_scale[worst]))
        # Every example is in the plot's data, each with its own bound ratio.
        assert len(row.samples) == row.examples == comparison.examples
        assert max(s["bound_ratio"] for s in row.samples) == pytest.approx(row.bound_ratio)
        again = RowType.from_dict(json.loads(json.dumps(row.to_dict())))
        assert (again.bound_ratio, again.logit_scale) == (row.bound_ratio, row.logit_scale)
    # Two shards of one target combine to the worse headroom.
    low, high = data.rows
    assert low.combine(high).bound_ratio == max(low.bound_ratio, high.bound_ratio)


def test_every_view_shows_each_rows_headroom(tmp_path: Path) -> None:
    from signbart_parity.reports.columns import ratio
    from signbart_parity.reports.text import row_lines

    data, _ = headroom_report()
    report.write_report(data, tmp_path)
    markdown = (tmp_path / "parity.md").read_text()
    page = (tmp_path / "parity.html").read_text()
    written = json.loads((tmp_path / "parity.json").read_text())
    terminal = "\n".join(row_lines(data))
    assert "worst / bound" in markdown and "logit scale" in markdown
    for row in data.rows:
        shown = f"{ratio(row.bound_ratio)} bound"
        line = next(
            x
            for x in markdown.splitlines()
            if x.startswith(
                f"| 16 | {'fp32' if row.target.quantization == 'none' else 'dynamic-int8'} |"
            )
        )
        assert shown in line, line
        assert shown in page and f"{row.target}: PASS" in terminal and shown in terminal
        if row.logit_scale is not None:
            assert (
                f"{row.logit_scale:.3g}" in line
                and f"logit scale {row.logit_scale:.3g}" in terminal
            )
        (result,) = [r for r in written["results"] if r["quantization"] == row.target.precision]
        assert result["bound_ratio"] == row.bound_ratio and result["logit_scale"] == row.logit_scale
    # The plots count every example of their row and draw the bound.
    for row in data.rows:
        assert f"n={row.examples}</text>" in page
    assert page.count('class="bound"') == len(data.rows) + 1  # each histogram and the scatter


def test_worst_cases_put_failing_examples_first_and_add_the_bound() -> None:
    from signbart_parity.checks.compare import compare_logits
    from signbart_parity.checks.tolerances import tolerance_for
    from signbart_parity.reports.columns import WORST, cells, worst_entries

    masks = np.stack([mask_patterns(16)[kind] for kind in MASK_KINDS])
    reference = np.tile(np.linspace(-4.0, 4.0, 7), (len(masks), 1))
    candidate = reference.copy()
    candidate[:, 0] += np.linspace(0.01, 0.15, len(masks))  # 5% of scale 4 is 0.2: all pass
    candidate[2, 3] += 0.5  # one example over its bound, with a smaller error than the largest
    candidate[4, 0] += 0.3
    comparison = compare_logits(reference, candidate, tolerance_for("dynamic-int8"), masks=masks)
    row = Row(Target(16, "dynamic-int8", "litert"))
    row.add("parity", comparison, masks)
    data = fake_report([row], outcomes=outcomes_for(row, failed_check="parity"))
    table = cells(WORST, worst_entries(data), data)
    header = [column.header for column in WORST]
    first = dict(zip(header, table[0], strict=True))
    assert first["result"] == "FAIL" and float(first["x bound"].rstrip("x")) > 1
    assert [r[header.index("result")] for r in table].count("FAIL") == comparison.failing_examples
    passing = [float(r[header.index("x bound")].rstrip("x")) for r in table if r[-2] == "PASS"]
    assert passing == sorted(passing, reverse=True)
    # The message adds what the columns do not say: the bound and the logit scale it is 5% of.
    assert (
        "allowed 0.2 (logit scale 4)" in first["message"] and "over the bound" in first["message"]
    )
    assert first["mask"] not in first["message"]


def test_not_checked_is_one_line_per_check_in_the_tables_words(tmp_path: Path) -> None:
    from signbart_parity.reports.text import not_checked_lines

    data = clean_run()
    reason = "real samples: not checked: the bundled sample has 90 keypoints per frame"
    for seq_len, quantization in ((16, "none"), (16, "dynamic-int8"), (64, "none")):
        target = Target(seq_len, quantization, "litert")
        data.outcomes.append(
            Outcome(f"t::real[{target}]", "skipped", "real-sample", target, reason)
        )
    data.outcomes.append(
        Outcome("t::baseline", "skipped", "baseline", None, "no --parity-baseline given")
    )
    lines = not_checked_lines(data)
    assert lines == [
        "real-sample: NOT CHECKED on seq_len 16, fp32, litert; seq_len 16, dynamic-int8, litert; "
        "seq_len 64, fp32, litert: the bundled sample has 90 keypoints per frame",
        "baseline: NOT CHECKED: no --parity-baseline given",
    ]
    report.write_report(data, tmp_path)
    markdown = (tmp_path / "parity.md").read_text()
    page = (tmp_path / "parity.html").read_text()
    for line in lines:
        assert f"- {line}" in markdown and line in page
    assert "none" not in "\n".join(lines) and "not checked" not in "\n".join(lines)


# The first screen of a laptop browser: what a reviewer sees without scrolling.
FIRST_SCREEN = (1280, 800)
# Run inside a copy of the page only (parity.html itself has no scripts): where each thing
# a reviewer needs is drawn, written into the DOM that --dump-dom prints.
MEASURE = """<script>
const box = (e) => { const r = e.getBoundingClientRect(); return [r.right, r.bottom]; };
const cell = (header) => {
  const has = (t) => [...t.querySelectorAll("th")].some((th) => th.textContent === header);
  const table = [...document.querySelectorAll("table")].find(has);
  const index = [...table.querySelectorAll("th")].findIndex((th) => th.textContent === header);
  return [...table.querySelectorAll("tbody tr")].map((tr) => tr.children[index]);
};
const found = {
  verdict: [...document.querySelectorAll(".badge")].map(box),
  headroom: cell("worst / bound").map(box),
  result: cell("result").map(box),
  not_checked: [...document.querySelectorAll(".notchecked")].map(box),
  failing_cell: [...document.querySelectorAll("table.matrix td.FAIL")].map(box),
  headroom_text: cell("worst / bound").map((td) => td.textContent),
  scroll_width: document.documentElement.scrollWidth,
};
document.body.setAttribute("data-measured", JSON.stringify(found));
</script>"""


@pytest.mark.needs_chromium
def test_a_reviewer_reads_verdict_failing_cell_headroom_and_not_checked_on_the_first_screen(
    tmp_path: Path, single_run: Report
) -> None:
    data = copy.deepcopy(single_run)
    for row in data.rows:  # every row skipped its real-sample check, and the run no baseline
        data.outcomes.append(
            Outcome(f"t::real[{row.target}]", "skipped", "real-sample", row.target,
                    "real samples: not checked: the bundled sample has 90 keypoints per frame "
                    "but this model needs 100; pass --parity-samples with samples of this layout")
        )  # fmt: skip
    data.outcomes.append(Outcome("t::baseline", "skipped", "baseline", None, "no baseline given"))
    report.write_report(data, tmp_path / "out")
    page = (tmp_path / "out" / "parity.html").read_text()
    measured = tmp_path / "measured.html"
    measured.write_text(page.replace("</body>", MEASURE + "</body>"))
    size = "--window-size={},{}".format(*FIRST_SCREEN)
    dom = _chromium("--dump-dom", size, measured.resolve().as_uri(), tmp_path=tmp_path)
    found = re.search(r'data-measured="([^"]*)"', dom.stdout.decode())
    assert found, dom.stderr.decode(errors="replace")[-2000:]
    import html as html_module

    boxes = json.loads(html_module.unescape(found.group(1)))
    assert len(boxes["verdict"]) == 1 and len(boxes["not_checked"]) == 2
    assert len(boxes["failing_cell"]) == 1  # fp32 at 64 in tensorflow, the matrix's one FAIL
    assert len(boxes["headroom"]) == len(boxes["result"]) == len(ALL_RESULTS)
    assert all(text.endswith("x bound") for text in boxes["headroom_text"])
    width, height = FIRST_SCREEN
    assert boxes["scroll_width"] <= width, "the page scrolls sideways at 1280x800"
    for what in ("verdict", "failing_cell", "headroom", "result", "not_checked"):
        for right, bottom in boxes[what]:
            assert right <= width and bottom <= height, (what, right, bottom, FIRST_SCREEN)
    # And the screenshot of that first screen shows the FAIL badge (its solid red).
    shot = tmp_path / "first.png"
    _chromium(f"--screenshot={shot}", size, (tmp_path / "out" / "parity.html").resolve().as_uri(),
              tmp_path=tmp_path)  # fmt: skip
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == FIRST_SCREEN
        colours = {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 20)}
    assert (0xD6, 0x27, 0x28) in colours, "the FAIL badge is not on the first screen"


def test_the_summary_shows_what_the_rule_judges_not_a_relative_error(
    single_run: Report, tmp_path: Path
) -> None:
    """A passing int8 row's relative error (8.01e+00 on a near-zero logit) alarms a reviewer
    for nothing: the tables show the error against its bound and the logit scale; parity.json
    keeps max_rel_err."""
    report.write_report(single_run, tmp_path / "out")
    for name in ("parity.md", "parity.html"):
        text = (tmp_path / "out" / name).read_text()
        assert "max rel err" not in text and "worst / bound" in text, name
    rows = json.loads((tmp_path / "out" / "parity.json").read_text())["results"]
    assert all("max_rel_err" in row for row in rows)


def test_a_long_message_is_cut_between_words_never_inside_one():
    from signbart_parity.reports.model import first_line

    message = "max abs err 0.0001*|torch logits| exceeded on 3 of 72 examples " * 4
    shown = first_line(message, 40)
    assert len(shown) <= 40 and shown.endswith("…")
    assert message.startswith(shown[:-1]) and message[len(shown) - 1] in " |"
    assert first_line("short\nsecond line", 40) == "short"

"""``signbart-parity repair``: the smallest file at a precision that passes every target.

Real conversions and the real tflite-runtime 2.14 build (made once per machine, as in
``test_runtime_builds.py``). The finding repair turns into a file: 2.14's hybrid
FULLY_CONNECTED kernel ignores per-channel int8 weights (its output does not depend on
its input), so the default dynamic-int8 file is wrong there; per-tensor weights are right.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from signbart_parity.export.recipes import SCOPES, Recipe, Rule, candidates, default_recipe
from signbart_parity.runtime.provision.venvs import CACHE_VARIABLE, prepare
from signbart_parity.runtime_specs import parse_runtime_spec
from tests.cli import run_cli, run_in_process
from tests.helpers import CHECKPOINT, CONFIG, write_model
from tests.tflite_files import MODEL_ARGS, cache_root, genuine, shared_gate_cache

OLD_RUNTIME = "tflite-runtime==2.14.0"
TARGETS = f"litert,{OLD_RUNTIME}"
GATE_MODEL = (f"--parity-config={CONFIG}", f"--parity-checkpoint={CHECKPOINT}")


@pytest.fixture(scope="module")
def old_runtime():
    """The shared test cache (the 2.14 environment, made once; exports) for this module."""
    from signbart_parity.runtime.worker import client as worker

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_VARIABLE, str(cache_root()))
        prepare(parse_runtime_spec(OLD_RUNTIME))
        yield
    worker.close_workers()


def repair(*args, output):
    return run_in_process(
        "repair", *args, "--seq-len", "16", "--runtime", TARGETS, "--output", output
    )


def verify_cli(model_args, path):
    return run_cli("verify", *model_args, "--tflite", path, "--runtime", TARGETS)


def fp32_size(model_args) -> int:
    from signbart_parity.export.cache import ExportCache
    from signbart_parity.export.exporter import Exporter
    from signbart_parity.model.checkpoint import load_signbart_model
    from signbart_parity.runtime.provision.venvs import default_cache_root

    model, _ = load_signbart_model(model_args[1], model_args[3])
    return Exporter(model, cache=ExportCache(default_cache_root())).export(16, "none").size_bytes


def check_repaired(model_args, output):
    done = repair(*model_args, output=output)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^\s+1 .* PASS\s+every op dynamic-int8/tensor$", done.stdout, re.M), (
        done.stdout
    )
    assert "judging candidate 1" in done.stderr  # progress on stderr
    assert output.stat().st_size < fp32_size(model_args) / 2
    checked = verify_cli(model_args, output)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("parity holds") == 2, checked.stdout
    shown = run_cli("inspect", "--tflite", output)
    assert "quantizer recipe (chosen by repair): every op dynamic-int8/tensor" in shown.stdout


@pytest.mark.slow
def test_repair_makes_a_dynamic_int8_file_verify_passes_in_litert_and_2_14(old_runtime, tmp_path):
    check_repaired(MODEL_ARGS, tmp_path / "repaired.tflite")


@pytest.mark.slow
def test_repair_works_on_a_model_unlike_the_default(old_runtime, tmp_path):
    config, checkpoint = write_model(tmp_path, keypoints=100)
    check_repaired(["--config", config, "--checkpoint", checkpoint], tmp_path / "out.tflite")


@pytest.mark.slow
def test_an_impossible_budget_says_nothing_passed_and_writes_nothing(old_runtime, tmp_path):
    output = tmp_path / "never.tflite"
    done = run_in_process(
        "repair", *MODEL_ARGS, "--seq-len", "16", "--runtime", TARGETS,
        "--output", output, "--budget", "0.01",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOTHING PASSED: the 0.01 s budget ran out before any candidate was judged" in (
        done.stdout
    )
    assert "the first would have been: every op dynamic-int8/tensor" in done.stdout
    assert not output.exists() and list(tmp_path.iterdir()) == []


def report_files(folder) -> tuple[dict, str, str]:
    """parity.json (parsed), parity.md and parity.html (its text, HTML entities undone)."""
    folder = Path(folder)
    data = json.loads((folder / "parity.json").read_text())
    return (
        data,
        (folder / "parity.md").read_text(),
        html.unescape((folder / "parity.html").read_text()),
    )


def assert_fix_in_reports(
    folder, command: str, *, status: str = "repaired recipe: not searched; repair command:"
):
    """The command and the status in the failing row of parity.json, in parity.md and in
    parity.html; and no fix in any other row."""
    data, markdown, page = report_files(folder)
    fixed = [row for row in data["results"] if row.get("repair")]
    assert [row["runtime"] for row in fixed] == [OLD_RUNTIME], data["results"]
    assert fixed[0]["repair"]["command"] == command
    assert [row["repair"] for row in data["results"] if row["runtime"] != OLD_RUNTIME] == [None]
    target = f"seq_len 16, dynamic-int8, {OLD_RUNTIME}"
    assert "### Fix" in markdown and f"- {target}: {status}" in markdown
    assert f"  {command}\n" in markdown and f"{target}: {status}" in page
    assert f'<pre class="command">{command}</pre>' in page
    return fixed[0]["repair"]


@pytest.mark.slow
def test_verify_names_the_repair_command_where_a_quantized_target_fails(old_runtime, tmp_path):
    path = genuine(quantization="dynamic-int8")
    done = run_in_process(
        "verify", *MODEL_ARGS, "--tflite", path, "--examples", "12",
        "--runtime", f"litert,{OLD_RUNTIME}", "--report", tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    fixes = [line for line in done.stdout.splitlines() if line.startswith("fix: ")]
    assert len(fixes) == 1, done.stdout
    command = (
        f"signbart-parity repair --config {CONFIG} --checkpoint {CHECKPOINT} --seq-len 16 "
        f"--quantization dynamic-int8 --runtime litert,{OLD_RUNTIME} --output "
        f"{path.with_name(path.stem + '-repaired.tflite')}"
    )
    assert fixes[0].endswith(f": {command}"), fixes[0]
    # The report names the same command, for the failing row only (litert passes).
    assert assert_fix_in_reports(tmp_path, command)["status"] == "not searched"
    # Judged with the examples outside the app contract, repair is told to judge so too.
    done = run_in_process(
        "verify", *MODEL_ARGS, "--tflite", path, "--examples", "12", "--runtime", OLD_RUNTIME,
        "--judge-outside-contract",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    (fix,) = [line for line in done.stdout.splitlines() if line.startswith("fix: ")]
    assert fix.endswith(" --judge-outside-contract"), fix


def run_gate(pytester, tmp_path, *extra, model=GATE_MODEL):
    """The gate on the fixture checkpoint's (or ``model``'s) dynamic-int8 file at seq_len
    16, in LiteRT and in 2.14 (the shared export cache: the file ``genuine`` makes), a
    report in report/."""
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--pyargs", "signbart_parity.gate", *model,
        "--parity-seq-lens=16", "--parity-quantization=dynamic-int8",
        f"--parity-runtime={TARGETS}", *shared_gate_cache(tmp_path / "corpus"),
        "--parity-report=report", *extra,
    )  # fmt: skip


@pytest.mark.slow
def test_the_gate_repairs_the_failing_target_and_still_fails(old_runtime, pytester, tmp_path):
    """--parity-repair: after the checks, repair's search for the failing (seq_len 16,
    dynamic-int8) over both runtimes writes the file into the folder, and the report names
    the recipe, file, size and candidates; the verdict stays FAIL."""
    from signbart_parity.runtime.read.provenance import read_provenance

    result = run_gate(pytester, tmp_path, "--parity-repair=repaired", "--parity-budget=900")
    assert result.ret == 1, result.stdout.str()
    written = Path("repaired") / "seq_len16-dynamic-int8.tflite"
    command = (
        f"signbart-parity repair --config {CONFIG} --checkpoint {CHECKPOINT} --seq-len 16 "
        f"--quantization dynamic-int8 --runtime {TARGETS} --output {written}"
    )
    status = "repaired recipe: every op dynamic-int8/tensor ("
    repair = assert_fix_in_reports(pytester.path / "report", command, status=status)
    assert repair["status"] == "found" and repair["recipe"] == "every op dynamic-int8/tensor"
    assert repair["file"] == str(written) and repair["runtimes"] == list(TARGETS.split(","))
    path = pytester.path / written
    assert repair["size_bytes"] == path.stat().st_size < repair["fp32_size_bytes"] / 2
    assert repair["candidates"][-1]["passed"] and len(repair["candidates"]) == 1
    assert read_provenance(path).recipe == "every op dynamic-int8/tensor"
    data, markdown, page = report_files(pytester.path / "report")
    assert data["passed"] is False
    said = f"repaired file written: {written} (verify it before shipping)"
    assert said in markdown and said in page and said in result.stdout.str()
    for text in (markdown, page):
        assert re.search(r"^\s+1 .* PASS\s+every op dynamic-int8/tensor$", text, re.M), text
    assert [p.name for p in (pytester.path / "repaired").iterdir()] == [written.name]


@pytest.mark.slow
def test_the_gate_repairs_a_model_unlike_the_default(old_runtime, pytester, tmp_path):
    """The same on the 100-keypoint model (d_model 96, 7 labels): the repaired file is
    written under --parity-repair, the 2.14 target still fails."""
    config, checkpoint = write_model(tmp_path, keypoints=100)
    model = (f"--parity-config={config}", f"--parity-checkpoint={checkpoint}")
    result = run_gate(pytester, tmp_path, "--parity-repair=out", model=model)
    assert result.ret == 1, result.stdout.str()
    data, markdown, _ = report_files(pytester.path / "report")
    (fixed,) = [row for row in data["results"] if row.get("repair")]
    assert fixed["runtime"] == OLD_RUNTIME and fixed["repair"]["status"] == "found", fixed
    written = pytester.path / "out" / "seq_len16-dynamic-int8.tflite"
    assert fixed["repair"]["file"] == str(Path("out") / written.name) and written.is_file()
    assert f"--config {config} --checkpoint {checkpoint} " in fixed["repair"]["command"]
    assert f"repaired file written: out/{written.name} (verify it before shipping)" in markdown


@pytest.mark.slow
def test_verify_repair_writes_the_file_and_still_fails(old_runtime, tmp_path):
    path = genuine(quantization="dynamic-int8")
    done = run_in_process(
        "verify", *MODEL_ARGS, "--tflite", path, "--examples", "12", "--runtime", OLD_RUNTIME,
        "--repair", tmp_path / "fixed", "--report", tmp_path / "report",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    written = tmp_path / "fixed" / "seq_len16-dynamic-int8.tflite"
    assert f"repaired file written: {written} (verify it before shipping)" in done.stdout
    assert re.search(r"^\s+1 .* PASS\s+every op dynamic-int8/tensor$", done.stdout, re.M)
    (fix,) = [line for line in done.stdout.splitlines() if line.startswith("fix: ")]
    assert fix.endswith(f"--runtime {OLD_RUNTIME} --output {written}"), fix
    data, _, page = report_files(tmp_path / "report")
    (fixed,) = [row for row in data["results"] if row.get("repair")]
    assert fixed["repair"]["file"] == str(written) and written.is_file()
    assert f"repaired file written: {written}" in page


@pytest.mark.slow
def test_verify_repair_on_a_passing_file_searches_nothing(tmp_path):
    done = run_in_process(
        "verify", *MODEL_ARGS, "--tflite", genuine(quantization="dynamic-int8"),
        "--examples", "12", "--repair", tmp_path / "fixed",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "repair: nothing searched, nothing written to " in done.stdout
    assert ": no failing dynamic-int8 or weight-only-int8 target" in done.stdout
    assert "fix: " not in done.stdout and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_search_skips_a_smaller_failing_candidate_for_a_larger_passing_one(
    old_runtime, tmp_path
):
    """Today's recipe (per-channel) is the smaller file and fails in 2.14 at the first
    FULLY_CONNECTED; weight-only int8 with a per-tensor dynamic head passes both."""
    import time

    from signbart_parity.checks.repair import Judge, search
    from signbart_parity.reports.repair import table_lines
    from tests.tflite_files import fixture_model

    today = default_recipe("dynamic-int8")
    mixed = Recipe((Rule("weight-only-int8/channel"), Rule("dynamic-int8/tensor", scope="head")))
    judge = Judge(fixture_model()[0], "dynamic-int8", ("litert", OLD_RUNTIME), 24, 0)
    said = []
    result = search(
        genuine(),
        judge,
        folder=tmp_path,
        deadline=time.monotonic() + 900,
        progress=said.append,
        recipes=[mixed, today],
    )
    assert [c.recipe for c in result.tried] == [today, mixed]
    assert result.tried[0].size_bytes < result.tried[1].size_bytes
    assert result.chosen is result.tried[1] and not result.out_of_time
    litert, old = result.tried[0].verdicts
    assert litert.passed and not old.passed and old.top1 < 0.95 and old.bound_ratio > 1
    assert old.stage == "projection_x"
    table = "\n".join(table_lines(result, judge.runtimes, genuine().stat().st_size))
    assert re.search(r"^\s+1 .*over [\d.]+x, top-1 \d+%, at projection_x\s+FAIL", table, re.M)
    assert re.search(
        r"^\s+2 .*PASS\s+every op weight-only-int8/channel; every op in head dyn", table, re.M
    )
    assert len(said) == 3, said  # building, then each candidate judged


@pytest.mark.slow
@pytest.mark.needs_vulkan
def test_repair_judges_candidates_on_the_gpu_lane(tmp_path):
    """compiled@gpu as a repair target. Measured: every dynamic-int8 candidate is over its
    bound on LiteRT's GPU (the fp32 file passes there), and one with a weight-only-int8
    stage does not load on it; the table names both and nothing is chosen."""
    import time

    from signbart_parity.checks.repair import Judge, search
    from signbart_parity.reports.repair import table_lines
    from tests.tflite_files import fixture_model

    today = default_recipe("dynamic-int8")
    dequantized = Recipe.uniform("dynamic-int8/tensor").then(
        Rule("weight-only-int8/channel", scope="head")
    )
    judge = Judge(fixture_model()[0], "dynamic-int8", ("litert", "compiled@gpu"), 12, 0)
    result = search(
        genuine(), judge, folder=tmp_path, deadline=time.monotonic() + 600,
        progress=lambda _: None, recipes=[today, dequantized],
    )  # fmt: skip
    assert result.chosen is None and not result.out_of_time and len(result.tried) == 2
    verdicts = {c.recipe: c.verdicts for c in result.tried}
    litert, gpu = verdicts[today]
    assert litert.passed and not gpu.passed and gpu.bound_ratio > 1 and not gpu.note
    refused = verdicts[dequantized][1]
    assert refused.note == "FAILS ON THE GPU" and "does not load on the GPU" in refused.message
    table = table_lines(result, judge.runtimes, genuine().stat().st_size)
    assert any(re.search(r"headroom over [\d.]+x, top-1 \d+%\s+FAIL", line) for line in table)
    assert any(re.search(r"\sFAILS ON THE GPU\s+FAIL\s", line) for line in table), table
    header, rows = table[1], table[2:4]
    assert all(row.index(" FAIL ") == header.index(" verdict ") for row in rows), table


@pytest.mark.slow
@pytest.mark.needs_qemu
def test_repair_over_the_emulated_arm64_build(old_runtime, tmp_path):
    """litert@arm64 as the one target, on the fewest examples: the smallest candidate
    (per-tensor) passes there and is written."""
    output = tmp_path / "arm64.tflite"
    done = run_in_process(
        "repair", *MODEL_ARGS, "--seq-len", "16", "--runtime", "litert@arm64",
        "--examples", "4", "--budget", "900", "--output", output,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^\s+1 .*headroom \d+%.* PASS\s+every op dynamic-int8/tensor$",
                     done.stdout, re.M), done.stdout  # fmt: skip
    assert output.is_file() and "it passes litert@arm64" in done.stdout


@pytest.mark.slow
def test_a_fallback_never_makes_a_file_smaller_than_the_recipe_it_extends(tmp_path):
    """What lets repair build a candidate only when it could be the smallest left (and
    still return the smallest passing file): every recipe of the space, built."""
    from signbart_parity.checks.repair import CandidateBuilder, weighted_op_types

    fp32 = genuine()
    builder = CandidateBuilder(fp32, "dynamic-int8", tmp_path, print)
    recipes = candidates("dynamic-int8", weighted_op_types(fp32))
    built = [candidate for recipe in recipes for candidate in builder.build(recipe)]
    assert len(built) == len(recipes) == 26  # every recipe a distinct file
    for recipe in recipes:
        assert builder.sizes[recipe] >= builder.floor(recipe), recipe.text
    assert min(built, key=lambda c: c.size_bytes).recipe == Recipe.uniform("dynamic-int8/tensor")


@pytest.mark.parametrize(
    "args, words",
    [
        (["--quantization", "fp16"], "repair searches int8 weight recipes"),
        (["--budget", "-5"], "argument --budget: expected a positive number of seconds"),
        (["--output", str(CHECKPOINT)], "writing it would destroy the input"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, words, tmp_path):
    output = ["--output", str(tmp_path / "x.tflite")] if "--output" not in args else []
    done = run_cli("repair", *MODEL_ARGS, "--seq-len", "16", *output, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("... ")]
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_search_space_starts_at_todays_recipe_and_keeps_the_precision():
    found = candidates("dynamic-int8", ["FULLY_CONNECTED"], suspects=["decoder"])
    assert found[0] == default_recipe("dynamic-int8")
    assert found[1] == Recipe.uniform("dynamic-int8/tensor")
    assert len(found) == len(set(found)) == 2 + 2 * 3 * (len(SCOPES) - 1)
    assert found[2].rules[-1] == Rule("weight-only-int8/channel", scope="decoder")
    assert all(r.rules[0].setting.startswith("dynamic-int8") for r in found)
    weight_only = candidates("weight-only-int8", ["FULLY_CONNECTED", "BATCH_MATMUL"])
    assert (
        Recipe.uniform("weight-only-int8/channel").then(
            Rule("weight-only-int8/tensor", "BATCH_MATMUL")
        )
        in weight_only
    )
    assert not any(r.rules[-1].setting == "weight-only-int8/channel" for r in weight_only[1:])


def test_the_stamp_keeps_the_recipe():
    from signbart_parity.runtime.read.provenance import Provenance

    stamp = Provenance("w" * 64, "dynamic-int8", (16,), ("serving_default",), 7, {}, {}, recipe="r")
    assert Provenance.from_dict(stamp.to_dict()).recipe == "r"


def test_a_search_that_found_nothing_says_so_plainly_in_the_report(tmp_path):
    """The report's words when the budget ran out before any candidate (a real search
    result, as repair returns it): the row's status, and the sentence in parity.md."""
    from signbart_parity.checks.repair import RepairResult
    from signbart_parity.reports.markdown import render_markdown
    from signbart_parity.reports.model import Report, Row
    from signbart_parity.reports.repair import RepairPlan, name_fixes, record_search
    from signbart_parity.targets import Target

    report = Report("gate", {}, {}, {}, rows=[Row(Target(16, "dynamic-int8", OLD_RUNTIME))])
    report.rows[0].passed = False  # its examples went over the bound
    plan = RepairPlan(CONFIG, CHECKPOINT, ("litert", OLD_RUNTIME), folder=tmp_path)
    rows = name_fixes(report, plan)
    result = RepairResult([], [default_recipe("dynamic-int8")], None, out_of_time=True)
    record_search(
        rows, result, runtimes=plan.runtimes, fp32_bytes=3_000_000, budget=5, written=None,
        seconds=5.2,
    )  # fmt: skip
    repair = report.rows[0].repair
    assert repair["status"] == "nothing passed" and repair["file"] is None
    assert repair["command"].endswith(f"--output {tmp_path / 'seq_len16-dynamic-int8.tflite'}")
    markdown = render_markdown(report)
    assert (
        "repaired recipe: none: nothing within the budget passes. NOTHING PASSED: the 5 s "
        "budget ran out before any candidate was judged"
    ) in markdown
    assert "(none: the budget ran out before the first candidate was judged)" in markdown
    # A passing row, or an fp32 one, names no fix.
    report.rows = [
        Row(Target(16, "none", OLD_RUNTIME), passed=False),
        Row(Target(16, "dynamic-int8", "litert")),
    ]
    assert name_fixes(report, plan) == [] and "### Fix" not in render_markdown(report)

"""``signbart-parity verify``: genuine exports pass, broken ones fail with the reason."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from signbart_parity.checks.baseline import compare_with_baseline, contract_changes
from signbart_parity.runtime.read.signature import Signature, TensorSpec
from tests.cli import one_error_line, run_cli, run_in_process
from tests.helpers import CHECKPOINT, CONFIG, SAMPLE, write_config
from tests.tflite_files import FAULT_STAGES, MODEL_ARGS, broken, genuine

VERIFY = ("verify", *MODEL_ARGS)


@pytest.mark.slow
def test_genuine_fp32_export_passes_and_writes_a_report(tmp_path: Path) -> None:
    done = run_cli(
        *VERIFY,
        "--tflite",
        str(genuine()),
        "--samples",
        str(SAMPLE.parent),
        "--examples",
        "36",
        "--report",
        str(tmp_path / "report"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parity holds" in done.stdout
    for name in ("parity", "agreement", "real-sample", "padding", "determinism", "short-clip"):
        assert re.search(rf"^  {name} +PASS", done.stdout, re.M), (name, done.stdout)
    data = json.loads((tmp_path / "report" / "parity.json").read_text())
    assert data["passed"] is True and data["schema"] == 2 and data["kind"] == "verify"
    checks = ("parity", "agreement", "real-sample", "padding", "determinism", "short-clip")
    assert {o["check"]: o["outcome"] for o in data["outcomes"]} == dict.fromkeys(
        ("provenance", *checks), "passed"
    ) | {"runtime-build": "skipped"}  # no pinned build asked for: said, not hidden
    assert "runtime-build: NOT CHECKED: only the runtime installed here ran" in done.stdout
    (result,) = data["results"]
    assert (result["seq_len"], result["quantization"], result["runtime"]) == (16, "fp32", "litert")
    assert result["oracle_max_abs_err"] < 1e-4 and result["tflite_oracle_max_abs_err"] < 1e-4
    # Every property's examples are plotted (by headroom) and tallied in "checks".
    assert {s["property"] for s in result["samples"]} == set(result["checks"])
    assert len(result["samples"]) == result["examples"]
    assert 0 < result["bound_ratio"] < 1 and result["logit_scale"] is None  # fp32: absolute
    assert set(result["checks"]) == set(checks)
    assert all(
        tally["examples"] > 0 and tally["failed"] == 0 for tally in result["checks"].values()
    )
    # parity and agreement judge the same 30 in-contract examples; + the real sample. The
    # 6 all-zero examples (every sixth) are run and reported apart, not judged.
    assert result["top1_compared"] == 61 and result["top1_agreed"] == 61
    assert {name: tally["examples"] for name, tally in result["outside"].items()} == {
        "parity": 6,
        "agreement": 6,
        "determinism": 6,
    }
    assert "outside the app contract (no valid frame): run and shown, not judged" in done.stdout
    assert (tmp_path / "report" / "parity.html").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    "quantization", ["fp16", "dynamic-int8", "weight-only-int8", "static-int8"]
)
def test_genuine_quantized_export_passes(capsys, quantization: str) -> None:
    done = run_in_process(
        *VERIFY,
        "--tflite",
        str(genuine(quantization=quantization)),
        "--quantization",
        quantization,
        "--examples",
        "36",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parity holds" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULT_STAGES))
def test_broken_export_fails_naming_the_property_and_the_stage(fault: str, capsys) -> None:
    done = run_in_process(*VERIFY, "--tflite", str(broken(fault)), "--examples", "36")
    assert done.returncode == 1, done.stdout + done.stderr
    failing = re.search(r"^PARITY VIOLATED: failing properties: (.+)$", done.stdout, re.M)
    assert failing, done.stdout
    assert "parity" in failing.group(1).split(", ")
    stage = re.search(r"^first divergence: (\w+) \(", done.stdout, re.M)
    assert stage, done.stdout
    assert stage.group(1) == FAULT_STAGES[fault], done.stdout


@pytest.mark.slow
def test_report_of_a_broken_export_carries_the_divergence(tmp_path: Path) -> None:
    done = run_cli(
        *VERIFY,
        "--tflite",
        str(broken("inverted-mask")),
        "--examples",
        "12",
        "--report",
        str(tmp_path),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    (result,) = json.loads((tmp_path / "parity.json").read_text())["results"]
    assert result["passed"] is False
    assert result["divergence"].startswith("first divergence: encoder_layer_0 (")
    assert any(not sample["passed"] for sample in result["samples"])
    assert "first divergence: encoder_layer_0" in (tmp_path / "parity.md").read_text()
    assert "first divergence: encoder_layer_0" in (tmp_path / "parity.html").read_text()


@pytest.mark.slow
def test_baseline_with_another_seq_len_is_a_contract_change(tmp_path: Path) -> None:
    done = run_cli(
        *VERIFY,
        "--tflite",
        str(genuine()),
        "--baseline",
        str(genuine(seq_len=8)),
        "--examples",
        "12",
        "--report",
        str(tmp_path),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "parity holds" in done.stdout
    assert "CONTRACT CHANGED: input 0:" in done.stdout and "[1, 8, 90, 2] ->" in done.stdout
    assert "BASELINE CHECK FAILED" in done.stdout
    # Parity holds on every property, yet the report says FAIL: the baseline check failed.
    data = json.loads((tmp_path / "parity.json").read_text())
    assert data["passed"] is False
    assert all(tally["failed"] == 0 for tally in data["results"][0]["checks"].values())
    (failed,) = [o for o in data["outcomes"] if o["outcome"] == "failed"]
    assert failed["check"] == "baseline" and "CONTRACT CHANGED" in failed["message"]
    assert (tmp_path / "parity.md").read_text().startswith("## SignBart TFLite parity — FAIL")


@pytest.mark.slow
def test_baseline_flips_are_counted_and_limited_by_max_flip_rate() -> None:
    from signbart_parity.runtime.run.tflite import TFLiteModel

    shipped = TFLiteModel(genuine())
    same = compare_with_baseline(shipped, TFLiteModel(genuine()), real=None, max_flip_rate=0.0)
    assert same.passed and same.flips == 0 and same.max_drift == 0.0 and same.examples == 24

    candidate = TFLiteModel(broken("last-frame-pooling"))
    strict = compare_with_baseline(shipped, candidate, real=None, max_flip_rate=0.0)
    assert not strict.contract_changes and strict.flips > 0 and not strict.passed
    lenient = compare_with_baseline(shipped, candidate, real=None, max_flip_rate=1.0)
    assert lenient.passed


@pytest.mark.slow
def test_baseline_cli_reports_flips() -> None:
    done = run_cli(
        *VERIFY,
        "--tflite",
        str(genuine(quantization="dynamic-int8")),
        "--quantization",
        "dynamic-int8",
        "--baseline",
        str(genuine()),
        "--examples",
        "12",
        "--max-flip-rate",
        "0.5",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^  \d+/24 predictions flip \(", done.stdout, re.M), done.stdout
    assert "contract unchanged" in done.stdout


def _signature(seq_len: int = 16, labels: int = 10) -> Signature:
    return Signature(
        inputs=(
            TensorSpec("serving_default_args_0", (1, seq_len, 90, 2), "float32"),
            TensorSpec("serving_default_args_1", (1, seq_len), "int32"),
        ),
        outputs=(TensorSpec("serving_default_output_0_output", (1, labels), "float32"),),
    )


def test_contract_changes_name_the_labels_count() -> None:
    assert contract_changes(_signature(), _signature()) == []
    changes = contract_changes(_signature(), _signature(labels=12))
    assert "labels count 10 -> 12" in changes
    assert any(change.startswith("output 0:") for change in changes)


# ---------------------------------------------------------------- bad input: exit 2


def test_missing_tflite_exits_2(tmp_path: Path) -> None:
    line = one_error_line(run_cli(*VERIFY, "--tflite", str(tmp_path / "nope.tflite")))
    assert "nope.tflite" in line and "not found" in line


def test_non_tflite_file_exits_2(tmp_path: Path) -> None:
    fake = tmp_path / "model.tflite"
    fake.write_text("this is not a flatbuffer\n" * 4)
    line = one_error_line(run_cli(*VERIFY, "--tflite", str(fake)))
    assert "model.tflite" in line and "not a TFLite model" in line


@pytest.mark.slow
def test_file_for_another_config_exits_2(tmp_path: Path) -> None:
    import torch

    from signbart_parity.model.config import load_config
    from signbart_parity.model.signbart import SignBart

    config_path = write_config(tmp_path, num_labels=12)
    checkpoint = tmp_path / "twelve.pth"
    torch.save(SignBart(load_config(config_path)).state_dict(), checkpoint)
    done = run_cli(
        "verify",
        "--config",
        str(config_path),
        "--checkpoint",
        str(checkpoint),
        "--tflite",
        str(genuine()),
    )
    line = one_error_line(done)
    assert "does not fit" in line and "logits shape is [1, 10], the config implies [1, 12]" in line


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, expected",
    [
        (("--samples", "no/such/folder"), "no/such/folder: sample path not found"),
        (("--baseline", "no/such.tflite"), "no/such.tflite: .tflite file not found"),
        (("--checkpoint", "no/such.pth"), "no/such.pth: checkpoint file not found"),
        (("--config", "no/such.yaml"), "no/such.yaml: config file not found"),
    ],
)
def test_missing_paths_exit_2(args: tuple[str, ...], expected: str) -> None:
    options = ["--config", str(CONFIG), "--checkpoint", str(CHECKPOINT)]
    flag = args[0]
    if flag in options:
        options[options.index(flag) + 1] = args[1]
        args = ()
    line = one_error_line(run_cli("verify", *options, "--tflite", str(genuine()), *args))
    assert expected in line


@pytest.mark.slow
def test_verify_reports_progress_per_runtime_on_stderr():
    """Each runtime's checks start with a progress line and end with their time, on stderr,
    apart from the results on stdout."""
    from tests import tflite_files
    from tests.cli import run_in_process

    done = run_in_process(
        "verify", *tflite_files.MODEL_ARGS, "--tflite", tflite_files.genuine(),
        "--examples", "6", "--runtime", "litert,tensorflow",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("... ")]
    steps = [line for line in lines if line.startswith("... runtime ")]
    assert steps == ["... runtime 1/2: litert", "... runtime 2/2: tensorflow"]
    assert any(line.startswith("... litert: done in ") for line in lines)
    assert lines.index(steps[1]) > next(
        i for i, line in enumerate(lines) if line.startswith("... litert: done in ")
    )
    assert "runtime 1/2" not in done.stdout
    # --quiet: the same results, no progress.
    quiet = run_in_process(
        "verify", *tflite_files.MODEL_ARGS, "--tflite", tflite_files.genuine(),
        "--examples", "6", "--runtime", "litert,tensorflow", "--quiet",
    )  # fmt: skip
    assert quiet.returncode == 0 and "... " not in quiet.stderr, quiet.stderr
    assert _verdicts(quiet.stdout) == _verdicts(done.stdout) != []


def _verdicts(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("verify ")]


@pytest.mark.slow
def test_on_a_terminal_progress_is_one_live_line_and_each_finished_step_stays():
    """Where a person watches (stderr a terminal, not CI): rich's live line while a step
    runs, and each finished step left as a line with its time; results still on stdout."""
    import os
    import pty
    import subprocess
    import sys

    from tests import tflite_files

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"TERM": "xterm"}
    command = [sys.executable, "-m", "signbart_parity.cli", "verify", *tflite_files.MODEL_ARGS]
    command += ["--tflite", str(tflite_files.genuine()), "--examples", "6"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=follower, env=env, text=True
    ) as process:
        os.close(follower)
        shown = _read_all(leader)
        stdout = process.stdout.read()
    assert process.returncode == 0, shown[-3000:]
    assert "✓ runtime 1/1: litert (" in shown and "... runtime" not in shown, shown[-3000:]
    assert "\x1b[" in shown  # drawn live (cursor and colour), not printed as plain lines
    assert _verdicts(stdout) and "runtime 1/1" not in stdout


def _read_all(descriptor: int) -> str:
    import os

    chunks = []
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except OSError:  # the other end closed (EIO on Linux)
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(descriptor)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_an_emulated_runtime_step_says_it_takes_longer():
    from signbart_parity.cli.verify import _runtime_step

    assert _runtime_step("litert", 1, 2) == "runtime 1/2: litert"
    assert _runtime_step("litert@arm64", 2, 2) == (
        "runtime 2/2: litert@arm64 (emulated aarch64: about a minute or more)"
    )

"""Golden files: create with PyTorch, check a .tflite file against them without PyTorch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from signbart_parity.checks.golden import ARRAYS, GOLDEN_KEYPOINT_KINDS, load_golden
from signbart_parity.fileio import file_sha256
from signbart_parity.inputs.masks import MASK_KINDS
from tests.cli import one_error_line, run_cli
from tests.helpers import CHECKPOINT, SAMPLE, TouchOnUnpickle
from tests.tflite_files import MODEL_ARGS, broken, genuine

GENERATED_ROWS = len(GOLDEN_KEYPOINT_KINDS) * len(MASK_KINDS)


@pytest.fixture(scope="module")
def golden16(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("golden") / "golden-16.npz"
    done = run_cli(
        "golden",
        "create",
        *MODEL_ARGS,
        "--seq-len",
        "16",
        "--output",
        str(path),
        "--samples",
        str(SAMPLE),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{GENERATED_ROWS + 1} rows ({GENERATED_ROWS} generated, 1 real)" in done.stdout
    return path


def test_golden_file_is_plain_arrays_with_documented_metadata(golden16: Path) -> None:
    with np.load(golden16, allow_pickle=False) as npz:  # no pickles needed to read it
        assert sorted(npz.files) == sorted(ARRAYS)
        assert npz["keypoints"].shape == (GENERATED_ROWS + 1, 16, 90, 2)
        assert npz["keypoints"].dtype == np.float32
        assert npz["attention_mask"].dtype == np.int64
        assert npz["logits"].shape == (GENERATED_ROWS + 1, 10)
        metadata = json.loads(str(npz["metadata"][0]))
    assert metadata["checkpoint"]["sha256"] == file_sha256(CHECKPOINT)
    assert metadata["config"]["values"]["num_labels"] == 10
    assert metadata["seq_len"] == 16 and metadata["generated_rows"] == GENERATED_ROWS
    assert set(metadata["versions"]) >= {"torch", "litert-torch", "numpy"}
    golden = load_golden(golden16)
    assert golden.descriptions[0] == f"{GOLDEN_KEYPOINT_KINDS[0]} keypoints, {MASK_KINDS[0]} mask"
    assert golden.descriptions[-1].startswith(f"real sample {SAMPLE.name}")
    assert {int(m.sum()) for m in golden.attention_mask[: len(MASK_KINDS)]} >= {0, 16}


def test_golden_create_is_reproducible(golden16: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.npz"
    done = run_cli(
        "golden",
        "create",
        *MODEL_ARGS,
        "--seq-len",
        "16",
        "--output",
        str(again),
        "--samples",
        str(SAMPLE),
    )
    assert done.returncode == 0, done.stderr
    first, second = load_golden(golden16), load_golden(again)
    np.testing.assert_array_equal(first.keypoints, second.keypoints)
    np.testing.assert_array_equal(first.logits, second.logits)


@pytest.mark.slow
def test_genuine_exports_pass_the_golden_check(golden16: Path) -> None:
    done = run_cli("golden", "check", "--tflite", str(genuine()), "--golden", str(golden16))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parity holds (fp32)" in done.stdout and "(none)" not in done.stdout
    int8 = str(genuine(quantization="dynamic-int8"))
    done = run_cli(
        "golden",
        "check",
        "--tflite",
        int8,
        "--golden",
        str(golden16),
        "--quantization",
        "dynamic-int8",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Without --quantization the precision is read from the file, and judged by it.
    done = run_cli("golden", "check", "--tflite", int8, "--golden", str(golden16))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "precision: dynamic-int8 (read from the file: int8 weights into" in done.stdout
    # Saying another precision is refused in one line naming both: never judged as fp32.
    done = run_cli(
        "golden", "check", "--tflite", int8, "--golden", str(golden16), "--quantization", "fp32"
    )
    assert done.returncode == 2 and one_error_line(done).count("the file is dynamic-int8") == 1
    assert "you said fp32" in done.stderr


@pytest.mark.parametrize(
    "path, quantization",
    [(lambda: genuine(quantization="dynamic-int8"), "dynamic-int8"),
     (lambda: broken("last-frame-pooling"), "none")],
    ids=["int8-genuine", "fp32-broken"],
)  # fmt: skip
def test_golden_rows_listed_as_failing_are_exactly_the_verdicts_failures(
    golden16: Path, path, quantization: str
) -> None:
    """One per-example rule: the listed rows are the examples the comparison failed (an
    int8 flip within the bound is excused in both, or listed in both)."""
    from signbart_parity.checks.golden import check_golden, failing_rows
    from signbart_parity.runtime.run.tflite import TFLiteModel

    golden = load_golden(golden16)
    result = check_golden(TFLiteModel(path()), golden, quantization).result
    rows = failing_rows(result)
    assert len(rows) == result.comparison.failing_examples
    assert result.passed == (not rows)
    if quantization == "none":
        assert rows and all("max abs err" in row for row in rows)


@pytest.mark.slow
def test_broken_export_fails_the_golden_check_naming_rows(golden16: Path) -> None:
    done = run_cli(
        "golden", "check", "--tflite", str(broken("last-frame-pooling")), "--golden", str(golden16)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PARITY VIOLATED" in done.stdout and "right-padded mask: max abs err" in done.stdout


@pytest.mark.slow
def test_golden_check_runs_without_pytorch(golden16: Path) -> None:
    import subprocess

    script = (
        "import sys; sys.modules['torch'] = None; sys.modules['litert_torch'] = None\n"
        "from signbart_parity.cli.main import main\n"
        f"sys.exit(main(['golden', 'check', '--tflite', {str(genuine())!r}, "
        f"'--golden', {str(golden16)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parity holds" in done.stdout


@pytest.mark.slow
def test_golden_of_another_seq_len_exits_2(golden16: Path) -> None:
    line = one_error_line(
        run_cli("golden", "check", "--tflite", str(genuine(seq_len=8)), "--golden", str(golden16))
    )
    assert "seq_len 8" in line and "made with 16" in line


# ---------------------------------------------------------------- bad input: exit 2


def _bad_golden(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "bad.npz"
    if kind == "text":
        path.write_text("not an archive")
    elif kind == "missing-arrays":
        with open(path, "wb") as handle:
            np.savez(handle, keypoints=np.zeros(3))
    elif kind == "pickled-object":
        arrays = {name: np.zeros(1) for name in ARRAYS}
        arrays["metadata"] = np.array([TouchOnUnpickle(tmp_path / "pwned")], dtype=object)
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
    elif kind == "truncated":
        with open(path, "wb") as handle:
            np.savez(handle, **{name: np.zeros(100) for name in ARRAYS})
        path.write_bytes(path.read_bytes()[:200])
    return path


@pytest.mark.parametrize(
    "kind", ["absent", "text", "missing-arrays", "pickled-object", "truncated"]
)
def test_bad_golden_file_exits_2_without_unpickling(tmp_path: Path, kind: str) -> None:
    path = _bad_golden(tmp_path, kind)
    tflite = tmp_path / "unused.tflite"
    line = one_error_line(
        run_cli("golden", "check", "--tflite", str(tflite), "--golden", str(path))
    )
    assert str(path) in line
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "args, expected",
    [
        (("--seq-len", "0"), "seq_len 0 is outside 1..256"),
        (("--seq-len", "300"), "seq_len 300 is outside 1..256"),
        (("--seq-len", "16", "--samples", "no/such.pkl"), "no/such.pkl: sample path not found"),
    ],
)
def test_golden_create_bad_input_exits_2(tmp_path: Path, args, expected: str) -> None:
    output = tmp_path / "g.npz"
    line = one_error_line(run_cli("golden", "create", *MODEL_ARGS, *args, "--output", str(output)))
    assert expected in line
    assert not output.exists()


def test_golden_create_missing_checkpoint_exits_2(tmp_path: Path) -> None:
    line = one_error_line(
        run_cli(
            "golden",
            "create",
            "--checkpoint",
            str(tmp_path / "x.pth"),
            "--seq-len",
            "8",
            "--output",
            str(tmp_path / "g.npz"),
        )
    )
    assert "x.pth: checkpoint file not found" in line


@pytest.mark.slow
def test_golden_check_shows_rows_without_a_valid_frame_apart_and_judges_them_on_request(
    golden16: Path, tmp_path: Path
) -> None:
    """The table's ``golden`` check, as verify's checks: a golden whose all-zero rows
    disagree with the file passes by default, those rows shown under the app contract's
    heading with their numbers; --judge-outside-contract makes them decide, and fail."""
    import dataclasses

    from signbart_parity.checks.domain import in_contract
    from signbart_parity.checks.golden import write_goldens

    golden = load_golden(golden16)
    outside = ~in_contract(golden.attention_mask)
    assert outside.sum() == len(GOLDEN_KEYPOINT_KINDS), "one all-zero row per keypoint kind"
    shifted = golden.logits.copy()
    shifted[outside] += 5.0  # far over the fp32 bound
    edited = tmp_path / "all-zero-rows-off.npz"
    write_goldens([dataclasses.replace(golden, logits=shifted)], edited)
    check = ("golden", "check", "--tflite", str(genuine()), "--golden", str(edited))

    default = run_cli(*check)
    assert default.returncode == 0, default.stdout + default.stderr
    assert "outside the app contract (no valid frame): run and shown, not judged" in default.stdout
    assert f"golden: {outside.sum()} examples" in default.stdout
    assert f"{outside.sum()} over the bound" in default.stdout

    judged = run_cli(*check, "--judge-outside-contract")
    assert judged.returncode == 1, judged.stdout + judged.stderr
    assert "PARITY VIOLATED" in judged.stdout and "all-zero" in judged.stdout
    assert "outside the app contract" not in judged.stdout

"""Outputs never clobber inputs, and a bad output path is one line (exit 2) before any
conversion starts; an interrupted convert says what it left on disk."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from signbart_parity.errors import OutputPathError
from signbart_parity.model.default import DEFAULT_CHECKPOINT, DEFAULT_CONFIG
from signbart_parity.outputs import output_file, output_folder
from tests.cli import one_error_line, run_in_process


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    copy = tmp_path / "v.pth"
    shutil.copyfile(DEFAULT_CHECKPOINT, copy)
    return copy


def _convert(checkpoint: Path, output) -> subprocess.CompletedProcess:
    return run_in_process(
        "convert", "--checkpoint", checkpoint, "--output", output, "--seq-len", "16"
    )


@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink", "dotted"])
def test_convert_never_writes_over_its_checkpoint(checkpoint, tmp_path, alias):
    before = checkpoint.read_bytes()
    output = {
        "same": lambda: checkpoint,
        "symlink": lambda: (
            (tmp_path / "link.tflite").symlink_to(checkpoint) or tmp_path / "link.tflite"
        ),
        "hardlink": lambda: (
            (tmp_path / "hard.tflite").hardlink_to(checkpoint) or tmp_path / "hard.tflite"
        ),
        "dotted": lambda: tmp_path / "." / "v.pth",
    }[alias]()
    line = one_error_line(_convert(checkpoint, output))
    assert "would destroy the input" in line and str(checkpoint) in line
    assert checkpoint.read_bytes() == before


def test_convert_never_writes_over_its_config(tmp_path):
    config = tmp_path / "config.yaml"
    shutil.copyfile(DEFAULT_CONFIG, config)
    before = config.read_bytes()
    done = run_in_process("convert", "--config", config, "--output", config, "--seq-len", "16")
    assert "would destroy the input" in one_error_line(done)
    assert config.read_bytes() == before


def test_bad_output_paths_are_refused_before_loading_anything(checkpoint, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    read_only = tmp_path / "shipped.tflite"
    read_only.write_bytes(b"shipped")
    read_only.chmod(0o444)
    cases = {
        "": "output path is empty",
        str(blocker / "model.tflite"): "is a file, so nothing can be written below it",
        str(read_only): "is read-only",
        "/proc/model.tflite": "cannot write here",
    }
    for output, expected in cases.items():
        assert expected in one_error_line(_convert(checkpoint, output)), output
    assert read_only.read_bytes() == b"shipped"


def test_a_folder_output_means_a_default_name_inside_it(tmp_path):
    folder = tmp_path / "assets"
    folder.mkdir()
    for raw in (f"{folder}/", str(folder)):
        path = output_file(raw, default_name="v-seq16-fp32.tflite")
        assert path == folder / "v-seq16-fp32.tflite"
    new = output_file(f"{tmp_path}/new/", default_name="m.tflite")
    assert new == tmp_path / "new" / "m.tflite"
    with pytest.raises(OutputPathError, match="is a folder; give a file name"):
        output_file(folder)  # a library caller without a default name
    (folder / "m.tflite").mkdir()
    with pytest.raises(OutputPathError, match="is a folder; give another output file name"):
        output_file(folder, default_name="m.tflite")


def test_report_folders_are_checked_before_any_work(tmp_path):
    shard = tmp_path / "out" / "parity.json"
    shard.parent.mkdir()
    shard.write_text("{}")
    with pytest.raises(OutputPathError, match="would destroy the input"):
        output_folder(shard.parent, inputs=[shard], files=["parity.json"])
    line = one_error_line(run_in_process("report", "merge", shard, "--output", shard.parent))
    assert "would destroy the input" in line
    line = one_error_line(run_in_process("report", "merge", shard, "--output", shard))
    assert "is a file, not a folder" in line
    assert shard.read_text() == "{}"


def test_golden_create_and_evaluate_check_their_outputs_first(checkpoint, tmp_path):
    done = run_in_process(
        "golden", "create", "--checkpoint", checkpoint, "--seq-len", "16", "-o", checkpoint
    )
    assert "would destroy the input" in one_error_line(done)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = run_in_process(
        "evaluate", "--data", tmp_path, "--seq-len", "16", "--report", blocker / "r"
    )
    assert "nothing can be written below it" in one_error_line(done)


@pytest.mark.slow
def test_sigterm_during_converts_own_check_names_the_file_it_left(tmp_path):
    """Into a folder (``-o assets/``): the file lands under its default name, and SIGTERM
    after "wrote" says that file is there, unchecked (it is not "no partial output")."""
    folder = tmp_path / "assets"
    folder.mkdir()
    leftover = folder / ".convert-999999999-killed"  # a pid above any pid_max: long gone
    leftover.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "signbart_parity.cli", "convert", "-o", f"{folder}/"]
        + ["--seq-len", "16"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    for line in process.stdout:
        if line.startswith("wrote "):
            process.send_signal(signal.SIGTERM)
            break
    _, stderr = process.communicate(timeout=300)
    written = folder / "signbart-seq16-fp32.tflite"
    assert process.returncode == 143, stderr
    assert written.is_file()
    assert f"{written} was written but not checked against PyTorch" in stderr
    assert "no partial output" not in stderr
    assert not leftover.exists()


def test_scratch_of_killed_converts_is_swept_and_live_scratch_kept(tmp_path):
    from signbart_parity.export.convert import sweep_scratch

    dead = tmp_path / ".convert-999999999-abcd"
    alive = tmp_path / f".convert-{os.getpid()}-abcd"
    old_legacy, new_legacy = tmp_path / ".convert-q1w2e3r4", tmp_path / ".convert-z9x8c7v6"
    for folder in (dead, alive, old_legacy, new_legacy):
        folder.mkdir()
        (folder / "seq16-fp32.tflite").write_bytes(b"x")
    os.utime(old_legacy, (0, 0))
    assert sorted(sweep_scratch(tmp_path)) == sorted([dead, old_legacy])
    assert alive.is_dir() and new_legacy.is_dir()

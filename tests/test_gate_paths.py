"""The gate's folders (--parity-cache, --parity-corpus, --parity-report, --parity-repair) are
checked before
any test runs: a bad one is one usage error line and exit 4."""

from __future__ import annotations

import subprocess
import sys

import pytest


def gate_refused(folder, option: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """The gate run in ``folder`` with ``option``; it must stop with exit 4 before any test:
    the run and its ``ERROR:`` lines."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs"]
        + ["signbart_parity.gate", option],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 4, (done.stdout[-2000:], done.stderr[-2000:])
    return done, [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]


@pytest.mark.parametrize("option", ["cache", "corpus", "report", "repair"])
def test_a_gate_folder_that_is_a_file_is_exit_4_before_any_test(tmp_path, option):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done, errors = gate_refused(tmp_path, f"--parity-{option}={blocker / 'sub'}")
    assert errors == [
        f"ERROR: --parity-{option}: {blocker}: is a file, so nothing can be written below it."
    ]
    assert " passed" not in done.stdout and " failed" not in done.stdout


def test_an_unreadable_file_in_the_corpus_is_exit_4_naming_it_before_any_test(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "truncated.npz").write_bytes(b"PK\x03\x04 not a whole zip")
    done, errors = gate_refused(tmp_path, f"--parity-corpus={corpus}")
    assert len(errors) == 1 and "truncated.npz" in errors[0], errors
    assert f"move it out of {corpus} or delete it" in errors[0]
    assert " passed" not in done.stdout and " failed" not in done.stdout

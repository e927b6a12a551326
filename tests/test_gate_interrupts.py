"""A gate stopped by SIGTERM (a CI cancel) or SIGINT leaves a FAIL (run incomplete) report,
never the previous run's PASS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import write_model

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_gate_replaces_the_previous_pass_with_an_incomplete_fail(tmp_path, signum):
    config, checkpoint = write_model(tmp_path, training_layout=False)
    report = tmp_path / "report"
    report.mkdir()
    previous = {"passed": True, "verdict_reasons": [], "note": "the previous run"}
    (report / "parity.json").write_text(json.dumps(previous))
    cache = tmp_path / "cache"
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs"]
        + ["signbart_parity.gate", f"--checkpoint={checkpoint}", f"--config={config}"]
        + [f"--parity-cache={cache}", f"--parity-report={report}", "--parity-seq-lens=16"]
        + ["--parity-quantization=none"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"SIGNBART_PARITY_PROFILE": "ci"},
    )
    deadline = time.monotonic() + 180
    while not any(p.is_dir() for p in cache.glob("??/*")):  # a conversion has started
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the gate never started converting"
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode != 0, stdout[-2000:]
    written = json.loads((report / "parity.json").read_text())
    assert written.get("note") is None, (stdout[-2000:], stderr[-2000:])
    assert written["passed"] is False
    assert "run incomplete: interrupted" in written["verdict_reasons"]
    assert "run incomplete" in (report / "parity.md").read_text()
    assert "run incomplete" in (report / "parity.html").read_text()

"""Fuzzing every file reader: damaged copies of real files (bytes flipped, inserted, cut)
and arbitrary bytes give the reader's typed error (exit 2 at the CLI) or a valid result,
never another exception, in bounded time and memory. Derandomized with a small example
count per reader, so the whole file runs in CI in a few tens of seconds."""

from __future__ import annotations

import json
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signbart_parity.errors import ParityInputError
from tests.helpers import CONFIG, SAMPLE

EXAMPLES = 25
SECONDS_PER_FILE = 5.0
GROWTH_MB = 512  # the process's peak resident memory may not grow by more than this
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def damaged(draw, seed: bytes) -> bytes:
    """``seed`` with a few bytes changed, a run inserted and maybe cut short; or noise."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=4096))
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check_reader(read, path: Path, data: bytes) -> None:
    """``read(path)`` on ``data``: a result or a ``ParityInputError``, within the bounds."""
    path.write_bytes(data)
    before, started = _peak_mb(), time.perf_counter()
    try:
        read(path)
    except ParityInputError as exc:
        assert str(exc).startswith(str(path)), str(exc)  # one sentence naming the file
        assert "\n" not in str(exc)
    assert time.perf_counter() - started < SECONDS_PER_FILE
    assert _peak_mb() - before < GROWTH_MB


def _seed_report() -> bytes:
    from signbart_parity.reports.model import SCHEMA

    row = {"seq_len": 16, "quantization": "none", "runtime": "litert", "examples": 3}
    outcome = {"nodeid": "t::parity", "outcome": "passed", "target": row}
    document = {"schema": SCHEMA, "passed": True, "results": [row], "outcomes": [outcome]}
    return json.dumps(document).encode()


def _seed_golden(folder: Path) -> bytes:
    from signbart_parity.checks.golden import FORMAT

    path = folder / "seed.npz"
    np.savez_compressed(
        path,
        keypoints=np.zeros((1, 4, 3, 2), np.float32),
        attention_mask=np.ones((1, 4), np.int64),
        logits=np.zeros((1, 2), np.float32),
        logits_float64=np.zeros((1, 2)),
        descriptions=np.array(["x"], dtype=np.str_),
        metadata=np.array([json.dumps({"format": FORMAT, "format_version": 1})]),
    )
    return path.read_bytes()


@pytest.fixture(scope="module")
def tflite_seed() -> bytes:
    from tests.tflite_files import genuine

    return genuine().read_bytes()


def test_fuzz_config(tmp_path):
    from signbart_parity.model.config import load_config

    @FUZZ
    @given(damaged(CONFIG.read_bytes()))
    def run(data):
        check_reader(load_config, tmp_path / "config.yaml", data)

    run()


def test_fuzz_report_json(tmp_path):
    from signbart_parity.reports.merge import load_report

    @FUZZ
    @given(damaged(_seed_report()))
    def run(data):
        check_reader(load_report, tmp_path / "parity.json", data)

    run()


def test_fuzz_samples(tmp_path):
    from signbart_parity.inputs.samples import load_sample

    @FUZZ
    @given(damaged(SAMPLE.read_bytes()))
    def run(data):
        check_reader(load_sample, tmp_path / "sample.pkl", data)

    run()


def test_fuzz_golden_and_corpus(tmp_path):
    from signbart_parity.checks.corpus import load_corpus
    from signbart_parity.checks.golden import load_goldens

    corpus = tmp_path / "corpus"
    corpus.mkdir()

    @FUZZ
    @given(damaged(_seed_golden(tmp_path)))
    def run(data):
        check_reader(load_goldens, corpus / "one.npz", data)
        load_corpus(corpus)  # never raises: unreadable files are listed, not fatal

    run()


def test_fuzz_tflite(tmp_path, tflite_seed):
    from signbart_parity.runtime.read.identity import identify

    @FUZZ
    @given(damaged(tflite_seed))
    def run(data):
        check_reader(identify, tmp_path / "model.tflite", data)

    run()


def test_fuzz_stamp(tmp_path, tflite_seed):
    from signbart_parity.export.flatbuffer import set_metadata
    from signbart_parity.runtime.read.provenance import METADATA_NAME, read_provenance
    from tests.tflite_files import genuine

    seed = json.dumps(read_provenance(genuine()).to_dict()).encode()
    source = tmp_path / "source.tflite"
    source.write_bytes(tflite_seed)

    @FUZZ
    @given(damaged(seed))
    def run(data):
        path = tmp_path / "stamped.tflite"
        shutil.copyfile(source, path)
        set_metadata(path, METADATA_NAME, data)
        check_reader(read_provenance, path, path.read_bytes())

    run()

"""The read boundary: documents the tool owns (config, report, golden metadata, stamp) are
parsed within limits and checked against their schema; hostile or careless files are one
line and exit 2 in bounded time and memory, and text from files cannot drive a terminal or
inject into parity.md."""

from __future__ import annotations

import json
import shutil
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from signbart_parity.errors import ConfigError, GoldenError, ReportError, TFLiteFileError
from signbart_parity.limits import MAX_NESTING, MAX_NPZ_MEMBER_BYTES, MAX_SEQ_LEN
from signbart_parity.model.config import load_config
from signbart_parity.reports.merge import load_report
from tests.cli import one_error_line, run_in_process
from tests.helpers import CONFIG, bounded, write_config

DEEP = 100_000


# ---------------------------------------------------------------- config (YAML)
def test_a_deeply_nested_config_is_one_line(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("d_model: " + "[" * DEEP + "]" * DEEP + "\n")
    message = bounded(lambda: load_config(path), ConfigError)
    assert message.startswith(f"{path}: config is nested more than")
    line = one_error_line(run_in_process("convert", "--config", path, "-o", tmp_path / "m.tflite"))
    assert "nested more than" in line


def test_a_duplicate_config_key_is_refused(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(CONFIG.read_text() + "\nd_model: 512\n")
    with pytest.raises(ConfigError, match=r"gives the key 'd_model' twice \(line \d+\)"):
        load_config(path)


@pytest.mark.parametrize(
    "key, value",
    [
        ("d_model", 10**9),
        ("encoder_layers", 10**9),
        ("max_position_embeddings", MAX_SEQ_LEN + 1),
        ("num_labels", 10**9),
    ],
)
def test_config_sizes_no_model_can_have_are_bad_input(tmp_path, key, value):
    path = write_config(tmp_path, **{key: value})
    message = bounded(lambda: load_config(path), ConfigError)
    assert f"{path}: config is not a valid SignBart config: {key}: " in message
    assert "less than or equal to" in message


def test_a_yaml_billion_laughs_is_bounded(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 40)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    message = bounded(lambda: load_config(path), ConfigError)
    assert "depth limit" in message or "node limit" in message


# ---------------------------------------------------------------- parity.json
def _report(tmp_path: Path, **changes) -> Path:
    """A small valid-schema parity.json with one row, edited by ``changes``."""
    row = {"seq_len": 16, "quantization": "none", "runtime": "litert", "checks": {}}
    data = {"schema": 1, "passed": True, "results": [row], "outcomes": []}
    from signbart_parity.reports.model import SCHEMA

    data["schema"] = SCHEMA
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / "parity.json"
    path.write_text(json.dumps(data))
    return path


def test_a_deeply_nested_report_is_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * DEEP + "]" * DEEP)
    message = bounded(lambda: load_report(path), ReportError)
    assert f"nested more than {MAX_NESTING} levels deep" in message
    line = one_error_line(run_in_process("report", "merge", path, "-o", tmp_path / "out"))
    assert line.startswith(f"signbart-parity: error: {path}: ")
    assert not (tmp_path / "out").exists()


def test_a_report_declaring_seq_len_1e12_is_refused_at_once(tmp_path):
    row = {"seq_len": 10**12, "quantization": "none", "runtime": "litert"}
    path = _report(tmp_path, results=[row])
    message = bounded(lambda: load_report(path), ReportError)
    assert "results.0.seq_len" in message and f"less than or equal to {MAX_SEQ_LEN}" in message


def test_an_unknown_outcome_is_not_dropped_into_a_pass(tmp_path):
    outcome = {"nodeid": "test_gate.py::test_parity", "outcome": "xpassed-ish"}
    path = _report(tmp_path, outcomes=[outcome])
    with pytest.raises(ReportError, match="outcomes.0.outcome"):
        load_report(path)


def test_the_schema_knows_every_outcome_the_reports_know():
    from typing import get_args

    from signbart_parity.reports.model import OUTCOMES
    from signbart_parity.schemas import _Outcome

    assert get_args(_Outcome.model_fields["outcome"].annotation) == OUTCOMES


# ---------------------------------------------------------------- golden files and the corpus
def _golden(tmp_path: Path, name: str = "g.npz", **arrays) -> Path:
    metadata = {"format": "signbart-parity-golden", "format_version": 1}
    values = {
        "keypoints": np.zeros((2, 16, 90, 2), np.float32),
        "attention_mask": np.ones((2, 16), np.int64),
        "logits": np.zeros((2, 10), np.float32),
        "logits_float64": np.zeros((2, 10), np.float64),
        "descriptions": np.array(["a", "b"], dtype=np.str_),
        "metadata": np.array([json.dumps(metadata)]),
    } | arrays
    path = tmp_path / name
    np.savez(path, **values)
    return path


def test_golden_metadata_that_is_a_list_or_deep_is_a_golden_error(tmp_path):
    from signbart_parity.checks.golden import FORMAT, load_goldens

    assert load_goldens(
        _golden(tmp_path, metadata=np.array([json.dumps({"format": FORMAT, "format_version": 1})]))
    )
    listed = _golden(tmp_path, "list.npz", metadata=np.array(["[1, 2]"]))
    with pytest.raises(GoldenError, match="golden metadata is a JSON list, not an object"):
        load_goldens(listed)
    deep = _golden(tmp_path, "deep.npz", metadata=np.array(["[" * DEEP + "]" * DEEP]))
    assert "nested more than" in bounded(lambda: load_goldens(deep), GoldenError)


@pytest.mark.parametrize(
    "name, array",
    [
        ("attention_mask", np.ones((2, 16), np.float32)),
        ("keypoints", np.full((2, 16, 90, 2), "0.5")),
    ],
)
def test_a_golden_file_with_a_float_mask_or_string_keypoints_is_refused(tmp_path, name, array):
    from signbart_parity.checks.golden import FORMAT, load_goldens

    metadata = np.array([json.dumps({"format": FORMAT, "format_version": 1})])
    path = _golden(tmp_path, metadata=metadata, **{name: array})
    with pytest.raises(GoldenError, match=f"golden array '{name}' holds"):
        load_goldens(path)


def zip_bomb(path: Path, size: int) -> Path:
    """An .npz whose one member is ``size`` zero bytes behind a valid .npy header: a few
    MB on disk, ``size`` bytes when read."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.uint8))
    header["shape"] = (size,)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("keypoints.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                member.write(block)
    return path


def test_a_zip_bomb_in_the_corpus_is_refused_before_it_is_read(tmp_path):
    from signbart_parity.checks.corpus import load_corpus
    from signbart_parity.checks.golden import load_goldens

    bomb = zip_bomb(tmp_path / "bomb.npz", MAX_NPZ_MEMBER_BYTES + (1 << 20))
    assert bomb.stat().st_size < 2_000_000
    message = bounded(lambda: load_goldens(bomb), GoldenError, megabytes=20)
    assert "above the .npz limit" in message
    found, unreadable = load_corpus(tmp_path)
    assert found == [] and "above the .npz limit" in unreadable[0]


# ---------------------------------------------------------------- the provenance stamp
@pytest.fixture(scope="module")
def tflite(tmp_path_factory) -> Path:
    from tests.tflite_files import genuine

    return genuine()


def _stamped(tflite: Path, folder: Path, payload: bytes) -> Path:
    from signbart_parity.export.flatbuffer import set_metadata
    from signbart_parity.runtime.read.provenance import METADATA_NAME

    path = folder / "stamped.tflite"
    shutil.copyfile(tflite, path)
    set_metadata(path, METADATA_NAME, payload)
    return path


def test_a_huge_or_deep_stamp_is_one_short_line(tflite, tmp_path):
    from signbart_parity.runtime.read.provenance import read_provenance

    huge = _stamped(tflite, tmp_path, b'{"x": "' + b"A" * 50_000_000 + b'"}')
    message = bounded(lambda: read_provenance(huge), TFLiteFileError, seconds=20, megabytes=400)
    assert "above the provenance stamp size limit" in message and len(message) < 400
    done = run_in_process("inspect", "--tflite", huge)
    assert len(one_error_line(done)) < 400 and len(done.stdout) < 1000
    deep = _stamped(tflite, tmp_path, b"[" * DEEP + b"]" * DEEP)
    assert "nested more than" in bounded(lambda: read_provenance(deep), TFLiteFileError)


def test_escape_codes_in_a_stamp_never_reach_the_terminal(tflite, tmp_path):
    from signbart_parity.runtime.read.provenance import read_provenance

    stamp = read_provenance(tflite).to_dict()
    stamp["quantization"] = "none\x1b[2K\r\x1b]0;pwned\x07parity holds"
    path = _stamped(tflite, tmp_path, json.dumps(stamp).encode())
    done = run_in_process("inspect", "--tflite", path)
    shown = done.stdout + done.stderr
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown
    assert "\\x1b[2K" in shown


# ---------------------------------------------------------------- parity.md
def test_names_cannot_inject_into_parity_md(tmp_path):
    from signbart_parity.reports.markdown import md_code, md_text, render_markdown
    from signbart_parity.reports.model import Report

    hostile = "<img src=x onerror=alert(1)> `code` | cell\nline"
    assert md_text(hostile) == ("&lt;img src=x onerror=alert(1)&gt; \\`code\\` \\| cell line")
    assert md_code("a ``b`` c") == "``` a ``b`` c ```"
    report = Report(
        kind="gate",
        checkpoint={"path": hostile, "sha256": "0" * 64},
        config={"path": "c.yaml", "sha256": "1" * 64},
        environment={},
        tolerances={},
        rows=[],
        outcomes=[],
        incomplete=hostile,
    )
    markdown = render_markdown(report)
    checkpoint = markdown.splitlines()[2]
    assert checkpoint.startswith("checkpoint: `` <img") and checkpoint.endswith(" ``  ")
    outside_code = markdown.replace(checkpoint, "")
    assert "<img" not in outside_code and "&lt;img" in outside_code
    assert "\\| cell line" in outside_code


# ---------------------------------------------------------------- .tflite files
def _edited(tflite: Path, folder: Path, edit) -> Path:
    from signbart_parity.export.flatbuffer import rewrite

    path = folder / "edited.tflite"
    shutil.copyfile(tflite, path)
    rewrite(path, edit, share=None)
    return path


def _huge_input(model) -> None:
    graph = model.subgraphs[0]
    tensor = graph.tensors[graph.inputs[0]]
    tensor.shape = [1, 16, 100_000, 100_000]  # 596 GiB of float32
    if tensor.shapeSignature is not None:
        tensor.shapeSignature = list(tensor.shape)


def _bad_operator(model) -> None:
    model.subgraphs[0].operators[0].opcodeIndex = 9999


@pytest.mark.parametrize(
    "edit, expected",
    [(_huge_input, "above the limit of"), (_bad_operator, "opcode_index 9999")],
    ids=["huge-input-shape", "bad-operator-index"],
)
def test_a_tflite_declaring_a_huge_input_or_a_bad_operator_is_one_line(
    tflite, tmp_path, edit, expected
):
    path = _edited(tflite, tmp_path, edit)
    for command in (["inspect", "--tflite", path], ["verify", "--tflite", path]):
        tracemalloc.start()
        try:
            line = one_error_line(run_in_process(*command))
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert line.startswith(f"signbart-parity: error: {path}: ") and expected in line
        assert peak < 500e6


def test_a_300_digit_runtime_version_is_a_usage_error_not_a_file_name(tmp_path):
    from signbart_parity.runtime_specs import parse_runtime_spec
    from tests.cli import run_cli

    version = "9" * 300 + ".0.0"
    with pytest.raises(ValueError, match="must pin one exact release"):
        parse_runtime_spec(f"tflite-runtime=={version}")
    assert parse_runtime_spec("tflite-runtime==2.14.0").version == "2.14.0"
    done = run_cli("verify", "--tflite", tmp_path / "x.tflite", "--runtime", f"litert=={version}")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

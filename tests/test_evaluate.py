"""``signbart-parity evaluate`` on small datasets in the published layout."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

from signbart_parity.checks.accuracy import confusion_matrix
from signbart_parity.errors import DataError
from signbart_parity.inputs.dataset import load_dataset
from signbart_parity.inputs.synthetic import raw_sequence
from tests.cli import run_in_process
from tests.helpers import SAMPLE, TouchOnUnpickle

CLASSES = [f"G{index:02d}" for index in range(1, 11)]  # the real set's G01..G10 -> 0..9
SEQ_LEN = 16
GENERATED_PER_CLASS = 2


def write_sample(path, keypoints, label: str) -> None:
    """An upstream-style sample pickle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sample = {
        "keypoints": keypoints,
        "class": label,
        "user": "user00",
        "num_frames": len(keypoints),
    }
    path.write_bytes(pickle.dumps(sample))


def build_dataset(root, *, classes=(0, 1, 2), label_file=True):
    """The real G10 sample plus generated ones; returns the number of usable samples."""
    rng = np.random.default_rng(3)
    for label in classes:
        for index in range(GENERATED_PER_CLASS):
            frames = int(rng.integers(8, 40))
            raw = raw_sequence(rng, label=label, num_labels=10, num_frames=frames)
            write_sample(root / CLASSES[label] / f"gen_{index}.pkl", raw, CLASSES[label])
    (root / "G10").mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE, root / "G10" / SAMPLE.name)
    if label_file:
        (root / "label2id.json").write_text(json.dumps({n: i for i, n in enumerate(CLASSES)}))
    return len(classes) * GENERATED_PER_CLASS + 1


def add_bad_samples(root, marker):
    (root / "G01" / "malformed.pkl").write_bytes(b"\x80\x04 definitely not a pickle")
    evil = {"keypoints": TouchOnUnpickle(marker), "class": "G02"}
    (root / "G02" / "malicious.pkl").write_bytes(pickle.dumps(evil))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One evaluate run (embedded default model; fp32 and dynamic-int8) with a report."""
    root = tmp_path_factory.mktemp("dataset")
    usable = build_dataset(root)
    marker = tmp_path_factory.mktemp("marker") / "pwned"
    add_bad_samples(root, marker)
    report = tmp_path_factory.mktemp("report")
    result = run_in_process(
        "evaluate", "--data", root, "--seq-len", SEQ_LEN,
        "--quantization", "none,dynamic-int8", "--report", report,
    )  # fmt: skip
    return {"result": result, "usable": usable, "marker": marker, "report": report}


@pytest.mark.slow
def test_evaluate_reports_accuracy_agreement_and_confusion_matrix(evaluated):
    done = evaluated["result"]
    code, stdout, stderr = done.returncode, done.stdout, done.stderr
    assert code == 0, stderr
    summary = json.loads((evaluated["report"] / "evaluate.json").read_text())
    assert summary["samples"] == evaluated["usable"]
    assert summary["classes"] == CLASSES
    assert set(summary["results"]) == {"pytorch", "fp32", "dynamic-int8"}
    labels = np.array(summary["labels"])
    for precision, result in summary["results"].items():
        matrix = np.array(result["confusion_matrix"])
        assert matrix.shape == (10, 10)
        assert matrix.sum() == summary["samples"]
        assert matrix.sum(axis=1).tolist() == np.bincount(labels, minlength=10).tolist()
        assert result["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum()), precision
        predictions = np.array(result["predictions"])
        assert result["accuracy"] == pytest.approx((predictions == labels).mean())
    pytorch = summary["results"]["pytorch"]
    assert summary["results"]["fp32"]["agreement_with_pytorch"] == 1.0
    assert summary["results"]["fp32"]["predictions"] == pytorch["predictions"]
    assert summary["results"]["dynamic-int8"]["agreement_with_pytorch"] >= 0.9
    for precision in ("fp32", "dynamic-int8"):
        assert summary["results"][precision]["within_tolerance"] is True, precision
    # The default model was trained on these generated classes.
    assert pytorch["accuracy"] >= 0.5
    assert "fp32" in stdout and "dynamic-int8" in stdout


@pytest.mark.slow
def test_evaluate_writes_html_with_the_confusion_matrix_plot(evaluated):
    html = (evaluated["report"] / "evaluate.html").read_text()
    assert html.count("<svg") == 3  # PyTorch, fp32, dynamic-int8
    assert "malformed.pkl" in html and "G10" in html


@pytest.mark.slow
def test_bad_samples_are_reported_by_name_and_skipped(evaluated):
    stderr = evaluated["result"].stderr
    summary = json.loads((evaluated["report"] / "evaluate.json").read_text())
    skipped = {entry["file"]: entry["reason"] for entry in summary["skipped"]}
    assert set(skipped) == {"G01/malformed.pkl", "G02/malicious.pkl"}
    assert "not allowed" in skipped["G02/malicious.pkl"]
    assert "G01/malformed.pkl" in stderr and "G02/malicious.pkl" in stderr
    assert not evaluated["marker"].exists()


def test_empty_dataset_exits_2(tmp_path):
    (tmp_path / "G01").mkdir()
    done = run_in_process("evaluate", "--data", tmp_path, "--seq-len", SEQ_LEN)
    code, stderr = done.returncode, done.stderr
    assert code == 2
    assert str(tmp_path) in stderr and "no usable" in stderr


def test_dataset_of_only_bad_samples_exits_2(tmp_path):
    marker = tmp_path / "pwned"
    data = tmp_path / "data"
    (data / "G01").mkdir(parents=True)
    (data / "G02").mkdir()
    add_bad_samples(data, marker)
    done = run_in_process("evaluate", "--data", data, "--seq-len", SEQ_LEN)
    code, stderr = done.returncode, done.stderr
    assert code == 2, stderr
    assert "2 skipped" in stderr and not marker.exists()


def test_missing_dataset_folder_exits_2(tmp_path):
    done = run_in_process("evaluate", "--data", tmp_path / "nowhere")
    code, stderr = done.returncode, done.stderr
    assert code == 2 and "nowhere" in stderr


def test_sorted_folders_give_ids_without_label_file(tmp_path):
    build_dataset(tmp_path, classes=(4, 1), label_file=False)
    dataset = load_dataset(tmp_path, seq_len=SEQ_LEN, num_keypoints=90, num_labels=10)
    assert dataset.class_names == {0: "G02", 1: "G05", 2: "G10"}
    assert dataset.labels.tolist() == [0, 0, 1, 1, 2]
    assert dataset.keypoints.shape == (5, SEQ_LEN, 90, 2)
    assert dataset.masks.dtype == np.int64


def test_label_file_decides_ids_and_unlisted_classes_are_skipped(tmp_path):
    build_dataset(tmp_path, classes=(0,), label_file=False)
    (tmp_path / "label2id.json").write_text(json.dumps({"G10": 3}))
    dataset = load_dataset(tmp_path, seq_len=SEQ_LEN, num_keypoints=90, num_labels=10)
    assert dataset.labels.tolist() == [3]
    assert [s.file for s in dataset.skipped] == ["G01/gen_0.pkl", "G01/gen_1.pkl"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not readable JSON"), ('{"G10": "three"}', "ids >= 0"), ('{"G10": 12}', "12")],
)
def test_bad_label_file_is_a_data_error(tmp_path, content, message):
    build_dataset(tmp_path, classes=(), label_file=False)
    (tmp_path / "label2id.json").write_text(content)
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path, seq_len=SEQ_LEN, num_keypoints=90, num_labels=10)


def test_samples_with_too_few_keypoints_are_skipped(tmp_path):
    build_dataset(tmp_path, classes=(0,))
    write_sample(tmp_path / "G01" / "small.pkl", np.random.rand(10, 75, 3), "G01")
    dataset = load_dataset(tmp_path, seq_len=SEQ_LEN, num_keypoints=90, num_labels=10)
    assert [s.file for s in dataset.skipped] == ["G01/small.pkl"]
    assert "75 keypoints" in dataset.skipped[0].reason


def test_confusion_matrix_counts_rows_as_true_labels():
    matrix = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]

"""Corpus files on their own (checks/corpus.py): golden files named by their content,
stored once, read without pickles, matched to the model and run they fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signbart_parity.checks import corpus
from signbart_parity.checks.golden import check_golden, load_golden
from signbart_parity.targets import Target
from tests.helpers import CHECKPOINT, CONFIG
from tests.tflite_files import fixture_model, genuine, hundred_keypoint_model

TARGET = Target(16, "none", "litert")


def _inputs(num_keypoints: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    keypoints = rng.random((1, 16, num_keypoints, 2), dtype=np.float32)
    mask = np.zeros((1, 16), dtype=np.int64)
    mask[0, :9] = 1
    return keypoints, mask


def _save(folder: Path, model_and_config=None, *, seed: int = 0, target: Target = TARGET):
    model, config = model_and_config or fixture_model()
    keypoints, mask = _inputs(config.min_input_keypoints, seed)
    return corpus.save_counterexample(
        folder,
        model=model,
        config=config,
        config_path=CONFIG,
        checkpoint_path=CHECKPOINT,
        target=target,
        check="parity",
        keypoints=keypoints,
        masks=mask,
        descriptions=["uniform keypoints, right-padded mask"],
    )


def test_a_counterexample_is_a_golden_file_stored_once(tmp_path):
    path, new = _save(tmp_path)
    assert new and path.parent == tmp_path and path.name.startswith("parity-seq16-none-litert-")
    again, new_again = _save(tmp_path)
    assert (again, new_again) == (path, False)
    assert _save(tmp_path, seed=1)[0] != path  # other inputs, another file
    golden = load_golden(path)  # the documented format, loaded with allow_pickle=False
    keypoints, mask = _inputs(golden.keypoints.shape[2])
    np.testing.assert_array_equal(golden.keypoints, keypoints)
    np.testing.assert_array_equal(golden.attention_mask, mask)
    from signbart_parity.checks.reference import torch_logits

    np.testing.assert_allclose(golden.logits, torch_logits(fixture_model()[0], keypoints, mask))
    info = golden.metadata["counterexample"]
    assert info["check"] == "parity" and Target.from_dict(info["target"]) == TARGET
    assert golden.metadata["num_keypoints"] == 90 and golden.metadata["seq_len"] == 16
    assert golden.descriptions == ["uniform keypoints, right-padded mask"]
    assert not list(tmp_path.glob(".*partial"))  # written atomically, nothing left over


def test_what_a_run_replays_and_why_not(tmp_path):
    path, _ = _save(tmp_path)
    hundred, _ = _save(tmp_path, hundred_keypoint_model())
    other_precision, _ = _save(tmp_path, seed=2, target=Target(16, "fp16", "litert"))
    (tmp_path / "notes.npz").write_bytes(b"not an archive")
    items, unreadable = corpus.load_corpus(tmp_path)
    assert len(items) == 3 and len(unreadable) == 1 and "notes.npz" in unreadable[0]
    fits = {"num_keypoints": 100, "num_labels": 7, "targets": [TARGET]}
    replayable = corpus.replayable(tmp_path, **fits)
    assert {target: [item.path for item in found] for target, found in replayable.items()} == {
        TARGET: [hundred]
    }
    summary = corpus.summary(tmp_path, {hundred.name: corpus.STILL_FAILS}, **fits)
    statuses = {entry["file"]: entry["status"] for entry in summary["entries"]}
    assert statuses == {
        hundred.name: "still fails",
        path.name: "not replayed: another model (90 keypoints, 10 labels)",
        other_precision.name: "not replayed: another model (90 keypoints, 10 labels)",
    }
    assert (summary["stored"], summary["replayed"], summary["still_failing"]) == (3, 1, 1)
    fits90 = {"num_keypoints": 90, "num_labels": 10, "targets": [TARGET]}
    (item,) = [item for item in items if item.path == other_precision]
    assert item.misfit(**fits90) == "its target (seq_len 16, fp16, litert) is not gated in this run"


@pytest.mark.slow
def test_replay_recomputes_pytorch_for_the_current_checkpoint(tmp_path):
    """Replay judges the file against the current checkpoint's logits, not the stored ones
    (here shifted by 1, as if saved from another checkpoint: the stored ones would fail)."""
    from signbart_parity.runtime.run.tflite import TFLiteModel

    path, _ = _save(tmp_path)
    (item,) = corpus.load_corpus(tmp_path)[0]
    assert corpus.replay(item, fixture_model()[0], TFLiteModel(genuine())).passed
    shifted = item.golden.logits + 1.0
    from dataclasses import replace

    stale = replace(item, golden=replace(item.golden, logits=shifted))
    assert corpus.replay(stale, fixture_model()[0], TFLiteModel(genuine())).passed
    assert not check_golden(TFLiteModel(genuine()), stale.golden, "none").passed


@pytest.mark.slow
def test_golden_check_replays_a_counterexample_on_the_bundle_signature_of_its_seq_len(tmp_path):
    """A corpus file holds one seq_len; against a bundle it checks that signature only (a
    broken bundle: exit 1, the genuine one: exit 0); a bundle without it is bad input."""
    from signbart_parity.checks.faults import broken_model
    from signbart_parity.export.exporter import Exporter
    from tests.cli import one_error_line, run_in_process
    from tests.tflite_files import _cache

    model = fixture_model()[0]
    path, _ = _save(tmp_path)  # seq_len 16, a right-padded mask
    bundles = {
        name: Exporter(source, cache=_cache()).export((8, 16), "none").path
        for name, source in (("genuine", model), ("broken", broken_model(model, "inverted-mask")))
    }
    good = run_in_process("golden", "check", "--tflite", bundles["genuine"], "--golden", path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.count("parity holds") == 1
    bad = run_in_process("golden", "check", "--tflite", bundles["broken"], "--golden", path)
    assert bad.returncode == 1 and bad.stdout.count("PARITY VIOLATED") == 1, bad.stdout
    other = Exporter(model, cache=_cache()).export((8, 12), "none").path
    line = one_error_line(run_in_process("golden", "check", "--tflite", other, "--golden", path))
    assert "signatures for seq_len 8,12 but" in line and "buckets 16" in line


def test_the_report_lists_the_corpus_and_merged_shards_keep_it(tmp_path):
    """Shard A replayed the counterexample (still fails), shard B did not gate its target:
    the merged report says it was replayed and still fails, in every view."""
    from signbart_parity.reports.merge import merge_reports
    from signbart_parity.reports.model import Report
    from signbart_parity.reports.write import write_report
    from tests.test_report import clean_run

    path, _ = _save(tmp_path / "corpus")
    fits = {"num_keypoints": 90, "num_labels": 10}
    shard_a, shard_b = clean_run(), clean_run()
    shard_a.corpus = corpus.summary(
        tmp_path / "corpus", {path.name: corpus.STILL_FAILS}, targets=[TARGET], **fits
    )
    shard_b.corpus = corpus.summary(tmp_path / "corpus", {}, targets=[], **fits)
    assert shard_b.corpus["entries"][0]["status"].startswith("not replayed: its target")
    merged = merge_reports([shard_b, shard_a])
    assert (merged.corpus["replayed"], merged.corpus["still_failing"]) == (1, 1)
    assert Report.from_dict(merged.to_dict()).corpus == merged.corpus
    write_report(merged, tmp_path / "report")
    headline = "counterexamples: replayed 1 counterexamples, 1 still fail"
    line = f"{path.name}: parity on {TARGET}: still fails"
    for name in ("parity.md", "parity.html"):
        text = (tmp_path / "report" / name).read_text()
        assert headline in text and line in text, name

"""The export cache: hits, corrupt entries rebuilt, keys that follow the model's content."""

from __future__ import annotations

import pytest

from signbart_parity.export.cache import ExportCache, ExportRequest, model_fingerprint


def request(**changes) -> ExportRequest:
    fields = {"fingerprint": "abc", "config": {"d_model": 8}, "seq_len": 16, "quantization": "none"}
    return ExportRequest(**(fields | changes))


class CountingBuild:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path) -> None:
        self.calls += 1
        path.write_bytes(b"TFL3" * 64)


def test_second_get_is_a_hit(tmp_path):
    cache, build = ExportCache(tmp_path), CountingBuild()
    first = cache.get(request(), build)
    second = cache.get(request(), build)
    assert first == second and build.calls == 1
    assert (cache.stats.conversions, cache.stats.hits) == (1, 1)


@pytest.mark.parametrize("damage", ["truncate", "flip-byte", "delete-meta", "garble-meta"])
def test_corrupt_entry_is_rebuilt_not_used(tmp_path, damage):
    cache, build = ExportCache(tmp_path), CountingBuild()
    path = cache.get(request(), build)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:10])
    elif damage == "flip-byte":
        data = bytearray(path.read_bytes())
        data[7] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "delete-meta":
        (path.parent / "meta.json").unlink()
    else:
        (path.parent / "meta.json").write_text("{not json")
    again = cache.get(request(), build)
    assert build.calls == 2 and cache.stats.rebuilt_corrupt == 1
    assert again.read_bytes() == b"TFL3" * 64


@pytest.mark.parametrize(
    "change",
    [
        {"seq_len": 64},
        {"quantization": "dynamic-int8"},
        {"fingerprint": "abd"},
        {"config": {"d_model": 16}},
        {"calibration": "real samples"},
    ],
)
def test_every_input_of_the_export_changes_the_key(change):
    assert request().key() != request(**change).key()


def test_fingerprint_sees_weights_and_numerics(fixture_model):
    from signbart_parity.checks.faults import broken_model

    genuine = model_fingerprint(fixture_model)
    assert genuine == model_fingerprint(fixture_model)
    for fault in ("gelu-tanh", "layernorm-eps", "weight-noise", "last-frame-pooling"):
        assert model_fingerprint(broken_model(fixture_model, fault)) != genuine, fault


@pytest.fixture(scope="module")
def fixture_model():
    from signbart_parity.model.checkpoint import load_signbart_model
    from signbart_parity.model.default import DEFAULT_CHECKPOINT, DEFAULT_CONFIG

    return load_signbart_model(DEFAULT_CONFIG, DEFAULT_CHECKPOINT)[0]


def test_an_interrupted_build_leaves_no_entry(tmp_path):
    def interrupted(path) -> None:
        path.write_bytes(b"TFL3" * 8)  # half a file, then the user presses Ctrl-C
        raise KeyboardInterrupt

    cache = ExportCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cache.get(request(), interrupted)
    assert [p for p in tmp_path.rglob("*") if p.is_dir() and len(p.name) == 64] == []
    assert cache.get(request(), CountingBuild()).read_bytes() == b"TFL3" * 64


def test_static_int8_calibration_is_keyed_by_content_not_by_path(tmp_path):
    """An edited sample at the same path must not serve the file calibrated on the old one."""
    from signbart_parity.inputs.calibration import calibration_set
    from signbart_parity.model.config import load_config
    from signbart_parity.model.default import DEFAULT_CONFIG
    from tests.helpers import write_sample

    config = load_config(DEFAULT_CONFIG)
    sample = write_sample(tmp_path, keypoints=90, seed=1)
    before = calibration_set(config, 16, samples=[sample])
    assert calibration_set(config, 16, samples=[sample]).fingerprint() == before.fingerprint()
    write_sample(tmp_path, keypoints=90, seed=2)  # same path, new content
    after = calibration_set(config, 16, samples=[sample])
    assert after.to_dict() == before.to_dict()  # what the key used to hold: paths and counts
    assert after.fingerprint() != before.fingerprint()
    keys = {
        request(quantization="static-int8", calibration=c.fingerprint()).key()
        for c in (before, after)
    }
    assert len(keys) == 2


def test_a_sigterm_whose_exception_was_swallowed_still_stops_the_commit(tmp_path):
    """A signal raised inside a garbage-collector callback is swallowed by Python; the
    commit point must still refuse to move the file into place."""
    import os
    import signal

    from signbart_parity.fileio import write_text_atomic
    from signbart_parity.interrupts import Terminated, terminate_as_interrupt

    target = tmp_path / "model.tflite"
    with pytest.raises(Terminated), terminate_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except Terminated:
            pass  # what a GC callback does with it
        write_text_atomic(target, "half a conversion")
    assert not target.exists() and list(tmp_path.iterdir()) == []

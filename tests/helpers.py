"""Shared paths and small builders for the test suite (no fixtures, no mocks)."""

from __future__ import annotations

import pathlib
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).parent / "data"
UPSTREAM = DATA / "upstream_arabic90"
CONFIG = UPSTREAM / "config.yaml"
CHECKPOINT = UPSTREAM / "state_dict.pth"
IO = UPSTREAM / "io.npz"
SAMPLE = DATA / "mlr511" / "user12_G10_R10.pkl"

# LSA-64 / WLASL layout: 75 keypoints per frame (pose 33, left hand 21, right hand 21);
# the model keeps 6 pose points and both hands: 48 of the 75.
SUBSET_JOINT_IDX = [0, 11, 12, 13, 14, 15, *range(33, 75)]


def fixture_config() -> dict:
    """The upstream fixture config as a mapping."""
    return yaml.safe_load(CONFIG.read_text(encoding="utf-8"))


def write_config(directory: Path, name: str = "config.yaml", *, drop=(), **overrides) -> Path:
    """Write a copy of the fixture config with ``overrides`` set and the ``drop`` keys removed."""
    raw = fixture_config() | overrides
    for key in drop:
        del raw[key]
    path = Path(directory) / name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def write_text(directory: Path, name: str, text: str) -> Path:
    path = Path(directory) / name
    path.write_text(text, encoding="utf-8")
    return path


def truncated_copy(source: Path, destination: Path) -> Path:
    """Write the first half of ``source``'s bytes to ``destination``."""
    data = Path(source).read_bytes()
    Path(destination).write_bytes(data[: len(data) // 2])
    return Path(destination)


class TouchOnUnpickle:
    """Unpickling this object runs ``Path(marker).touch()``: a stand-in for malicious code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def write_model(
    directory: Path,
    *,
    keypoints: int = 100,
    d_model: int = 96,
    heads: int = 6,
    labels: int = 7,
    layers: int = 1,
    seed: int = 0,
    training_layout: bool = True,
    **config: object,
) -> tuple[Path, Path]:
    """A config and a random-weight checkpoint for a model unlike the embedded default
    (100 keypoints, d_model 96, 6 heads, 7 labels by default), saved as the published
    training loop saves it (``{"model": ..., "optimizer": ..., "epoch": ...}``). The
    classifier is scaled so logits have a realistic top-2 margin, as in the upstream fixture.
    ``config`` sets other config keys (e.g. max_position_embeddings).
    """
    import torch

    from signbart_parity.model.config import load_config
    from signbart_parity.model.signbart import SignBart

    config_path = write_config(
        directory,
        f"signbart-{keypoints}.yaml",
        joint_idx=list(range(keypoints)),
        d_model=d_model,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model,
        encoder_layers=layers,
        decoder_layers=layers,
        num_labels=labels,
        **config,
    )
    torch.manual_seed(seed)
    model = SignBart(load_config(config_path))
    with torch.no_grad():
        model.classification_head.out_proj.weight.mul_(25.0)
    state = model.state_dict()
    checkpoint = {"model": state, "optimizer": {}, "epoch": 3} if training_layout else state
    checkpoint_path = Path(directory) / f"signbart-{keypoints}.pth"
    torch.save(checkpoint, checkpoint_path)
    return config_path, checkpoint_path


def write_sample(directory: Path, *, keypoints: int, frames: int = 40, seed: int = 0) -> Path:
    """A sample in the published pickle layout (float64 (T, K, 3), class, user...), made
    from the synthetic MediaPipe-like generator."""
    import pickle

    import numpy as np

    from signbart_parity.inputs.synthetic import raw_sequence

    rng = np.random.default_rng(seed)
    raw = raw_sequence(rng, label=3, num_labels=10, num_frames=frames, num_keypoints=keypoints)
    sample = {
        "keypoints": raw.astype(np.float64),
        "class": "G04",
        "user": "user01",
        "num_keypoints": keypoints,
        "keypoint_structure": "synthetic",
        "video_file": "user01_G04_R01.mp4",
        "num_frames": frames,
    }
    path = Path(directory) / f"user01_G04_R01-{keypoints}.pkl"
    path.write_bytes(pickle.dumps(sample))
    return path


# Checks every gated target runs whatever its options (real-sample depends on the samples).
CORE_CHECKS = {"parity", "padding", "determinism", "agreement", "contract"}


def assert_gate_ran(result, report: dict, *, targets: int, failed: int = 0, skipped: int = 0):
    """The gate ran every core check on each of ``targets`` targets, with exactly ``failed``
    failures, ``skipped`` skips and no error: counted from pytest and from the report, so a
    new property does not change what a test has to say."""
    counts = result.parseoutcomes()
    got = {key: counts.get(key, 0) for key in ("failed", "errors", "skipped")}
    assert got == {"failed": failed, "errors": 0, "skipped": skipped}, result.stdout.str()
    passed: dict[tuple, set[str]] = {}
    for outcome in report["outcomes"]:
        if outcome["target"] and outcome["outcome"] == "passed":
            key = tuple(sorted(outcome["target"].items()))
            passed.setdefault(key, set()).add(outcome["check"])
    assert len(passed) == targets, sorted(passed)
    assert all(CORE_CHECKS <= checks for checks in passed.values()), passed


def bounded(call, error: type[Exception], *, seconds: float = 15.0, megabytes: float = 200):
    """``call`` raises ``error`` within the time and (Python-allocated) memory bounds. The
    time bound catches the denial of service (the billion-laughs pickle took 108 s) with
    room for a loaded 2-core machine (a 1 s read measured 5.8 s at load 10)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(error) as caught:
            call()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert elapsed < seconds, f"{elapsed:.1f} s"
    assert peak < megabytes * 1e6, f"peak {peak / 1e6:.0f} MB"
    return str(caught.value)

"""Shared paths and small builders for the test suite (no fixtures, no mocks)."""

from __future__ import annotations

import pathlib
from pathlib import Path

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

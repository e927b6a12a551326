"""Sample pickles are read safely whatever their protocol, and a hostile one is one bounded
DataError (exit 2), never a traceback, a 6 GB string or code run."""

from __future__ import annotations

import _codecs
import pickle

import numpy as np
import pytest

from signbart_parity.errors import DataError
from signbart_parity.inputs.samples import load_sample
from signbart_parity.limits import MAX_LABEL_CHARS, MAX_SAMPLE_BYTES
from tests.cli import one_error_line, run_in_process
from tests.helpers import SAMPLE, bounded


def _original() -> dict:
    """The real upstream sample's content, read with the standard unpickler (it is ours)."""
    return pickle.loads(SAMPLE.read_bytes())


def _save(tmp_path, content, protocol=pickle.DEFAULT_PROTOCOL, name="s.pkl"):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(content, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_the_real_sample_resaved_with_any_protocol_loads_the_same(tmp_path, protocol):
    original = load_sample(SAMPLE)
    resaved = load_sample(_save(tmp_path, _original(), protocol))
    assert resaved.label == original.label
    np.testing.assert_array_equal(resaved.keypoints, original.keypoints)
    assert resaved.keypoints.dtype == original.keypoints.dtype


def test_a_billion_laughs_class_is_refused_quickly(tmp_path):
    laughs: list = ["lol"] * 10
    for _ in range(40):  # 10**40 strings when walked as a tree; a few KB pickled
        laughs = [laughs] * 10
    content = _original() | {"class": laughs}
    path = _save(tmp_path, content)
    assert path.stat().st_size < 120_000
    message = bounded(lambda: load_sample(path), DataError, megabytes=64)
    assert message.startswith(f"{path}: ") and "depth limit" in message
    line = one_error_line(
        run_in_process(
            "golden", "create", "--seq-len", "16", "-o", tmp_path / "g.npz", "--samples", path
        )
    )
    assert "depth limit" in line


def test_a_long_or_structured_class_is_refused(tmp_path):
    for label in ("x" * (MAX_LABEL_CHARS + 1), ["G10"], {"a": 1}):
        path = _save(tmp_path, _original() | {"class": label})
        with pytest.raises(DataError, match="'class' must be a class name"):
            load_sample(path)
    assert load_sample(_save(tmp_path, _original() | {"class": 7})).label == "7"


@pytest.mark.parametrize(
    "keypoints",
    [
        np.full((5, 90, 3), "0.5", dtype=object),
        np.full((5, 90, 3), "0.5"),
        np.zeros((5, 90, 3), dtype=[("x", "f4"), ("y", "f4")]),
        np.zeros((5, 90, 3), dtype=bool),
    ],
    ids=["object", "string", "structured", "bool"],
)
def test_keypoints_that_are_not_numbers_are_refused(tmp_path, keypoints):
    path = _save(tmp_path, {"keypoints": keypoints, "class": "G10"})
    with pytest.raises(DataError, match="save the coordinates as a float array"):
        load_sample(path)


class _Reduce:
    def __init__(self, *reduced):
        self.reduced = reduced

    def __reduce__(self):
        return self.reduced


def test_a_declared_huge_array_is_refused_before_numpy_allocates_it(tmp_path):
    from numpy._core.multiarray import _reconstruct

    huge = _Reduce(_reconstruct, (np.ndarray, (10**6, 10**6), b"b"))
    path = _save(tmp_path, {"keypoints": huge, "class": "G10"})
    message = bounded(lambda: load_sample(path), DataError, megabytes=64)
    assert "above the limit of" in message and "elements" in message


def test_only_the_latin1_codec_is_admitted(tmp_path):
    path = _save(tmp_path, {"keypoints": _Reduce(_codecs.encode, ("x", "zlib_codec"))}, 2)
    with pytest.raises(DataError, match="codec 'zlib_codec' is not allowed"):
        load_sample(path)


def test_a_file_above_the_size_limit_is_not_read(tmp_path):
    path = tmp_path / "big.pkl"
    with open(path, "wb") as handle:
        handle.truncate(MAX_SAMPLE_BYTES + 1)  # sparse: costs nothing on disk
    message = bounded(lambda: load_sample(path), DataError, megabytes=1)
    assert "sample file size limit" in message


def test_a_folder_given_as_a_sample_is_not_called_corrupt(tmp_path):
    with pytest.raises(DataError, match="cannot read the sample file") as caught:
        load_sample(tmp_path)
    assert "corrupt" not in str(caught.value)

"""Converted .tflite files shared by the tests (verify, golden, divergence, runtimes...).

Files go through the project's own export cache (content-keyed, sha256-checked, locked per
entry), in one folder every test process of a run shares, so pytest-xdist workers convert
each file once between them; within a process ``functools.cache`` skips even the lookup.
The files: the fixture checkpoint at seq_len 16 and 8 (quantized modes derived from its
fp32 file) and one broken model per fault.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from tests.helpers import CHECKPOINT, CONFIG

SEQ_LEN = 16
# The stage each fault first changes (what divergence localisation must report).
FAULT_STAGES = {
    "mask-ignored-in-encoder": "encoder_layer_0",
    "last-frame-pooling": "pooled",
    "gelu-tanh": "encoder_layer_0",
    "layernorm-eps": "encoder_layer_0",
    "weight-noise": "encoder_layer_0",
    "inverted-mask": "encoder_layer_0",
}
MODEL_ARGS = ["--config", str(CONFIG), "--checkpoint", str(CHECKPOINT)]


@functools.cache
def scratch() -> Path:
    """A folder the tests of this machine share (workers and runs)."""
    folder = Path(tempfile.gettempdir()) / f"signbart-parity-tests-{os.getuid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_root() -> Path:
    """The tests' one cache folder, as a user's default cache is one: export cache entries
    (``ExportCache`` root, a gate's --parity-cache) and pinned builds' environments. The
    whole suite's SIGNBART_PARITY_CACHE (tests/conftest.py), so every door a test opens
    without --cache finds the files other tests made, and no test writes the user's cache."""
    return scratch() / "cache"


@functools.cache
def _cache():
    from signbart_parity.export.cache import ExportCache

    return ExportCache(cache_root())


def shared_gate_cache(corpus: Path) -> list[str]:
    """Gate options that convert into the tests' shared export cache, so a gate run (a
    pytester or subprocess one too) finds the files other tests made, and makes them once
    for the tests after it; with the run's own ``corpus`` folder (by default the corpus is
    under the cache dir, where one run's counterexamples would be replayed by the next).
    Not for a test that counts conversions: those need a cache of their own."""
    return [f"--parity-cache={cache_root()}", f"--parity-corpus={corpus}"]


@functools.cache
def fixture_model():
    from signbart_parity.model.checkpoint import load_signbart_model

    return load_signbart_model(CONFIG, CHECKPOINT)


def _export(model, seq_len: int, quantization: str) -> Path:
    """Through the project's one exporter, into the shared cache (static-int8 calibrated on
    generated real-like sequences, as ``convert`` does)."""
    from signbart_parity.export.exporter import Exporter

    return Exporter(model, cache=_cache()).export(seq_len, quantization).path


@functools.cache
def genuine(seq_len: int = SEQ_LEN, quantization: str = "none") -> Path:
    """The fixture checkpoint's own export (quantized modes derived from the fp32 file)."""
    return _export(fixture_model()[0], seq_len, quantization)


@functools.cache
def broken(fault: str) -> Path:
    """The fixture checkpoint with ``fault`` applied, converted at SEQ_LEN."""
    from signbart_parity.checks.faults import broken_model

    return _export(broken_model(fixture_model()[0], fault), SEQ_LEN, "none")


@functools.cache
def hundred_keypoint_model():
    """``helpers.write_model``'s 100-keypoint, d_model 96, 7-label model (fixed seed)."""
    from signbart_parity.model.checkpoint import load_signbart_model
    from tests.helpers import write_model

    with tempfile.TemporaryDirectory(prefix="signbart-100kp-") as folder:
        return load_signbart_model(*write_model(Path(folder), keypoints=100))


@functools.cache
def hundred_keypoint(seq_len: int = SEQ_LEN, quantization: str = "none") -> Path:
    """The 100-keypoint model's export (fp32, or a quantized mode derived from it)."""
    return _export(hundred_keypoint_model()[0], seq_len, quantization)

"""One file, every bucket: a .tflite holding one signature per sequence length.

Apps feed clips of very different lengths. A bundle lets an app run the smallest bucket
that holds the clip instead of padding every clip to the longest. Its signatures are named
``seq_<T>``; each takes ``args_0`` keypoints (1, T, K, 2) and ``args_1`` the mask (1, T)
and gives ``output_0`` logits, like a single file's ``serving_default``. The weights are
stored once (and, after ``flatbuffer.compact``, so is everything else the signatures share).
"""

from __future__ import annotations

from collections.abc import Sequence


def as_seq_lens(seq_len: int | Sequence[int]) -> tuple[int, ...]:
    """One length or several, as a sorted tuple without repeats."""
    values = (seq_len,) if isinstance(seq_len, int) else tuple(seq_len)
    return tuple(sorted(set(values)))


def bucket_for(frames: int, seq_lens: Sequence[int]) -> int:
    """The bucket an app runs a clip of ``frames`` frames in: the smallest T >= frames, or
    the largest T (the published preprocessing resamples a longer clip down to it)."""
    fitting = [seq_len for seq_len in sorted(seq_lens) if seq_len >= frames]
    return fitting[0] if fitting else max(seq_lens)

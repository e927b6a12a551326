"""Resource limits on what the tool reads, each set well above what real files need and
named in the error that a file beyond it gets (so a user can tell a limit from a bug).

Every reader checks its bytes before parsing, and the parsed structure (depth, node count)
before using it. ``walk_limits`` does the structural part for JSON, YAML and pickle alike,
without recursion and visiting shared objects once (a pickle's memo can make a 100 KB file
hold a graph that is exponentially large when walked as a tree).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

KIB, MIB = 1 << 10, 1 << 20

# Sample pickles: a real one is 20 KB - 1 MB (300 frames x 90 keypoints x 3 float64 = 650 KB)
# and a dict of ~8 plain values.
MAX_SAMPLE_BYTES = 64 * MIB
MAX_SAMPLE_NODES = 10_000
MAX_LABEL_CHARS = 256
# JSON and YAML the tool reads (config, provenance stamp, golden metadata, parity.json):
# a config is ~1 KB, a stamp ~2 KB, a 40-row parity.json ~200 KB, all nested < 10 deep.
MAX_JSON_BYTES = 32 * MIB
MAX_STAMP_BYTES = 256 * KIB
MAX_NESTING = 32
MAX_JSON_NODES = 2_000_000
# Arrays read from .npz files (golden files, the corpus): a 64-row golden file at seq_len
# 256 with 100 keypoints is ~13 M float32 elements; a member's decompressed size is checked
# against its declared size before it is read.
MAX_ARRAY_ELEMENTS = 64_000_000
MAX_NPZ_MEMBER_BYTES = 256 * MIB
MAX_NPZ_TOTAL_BYTES = 1024 * MIB
MAX_NPZ_MEMBERS = 4096
# Dimensions a model or a report may declare: seq_len is at most the config's
# max_position_embeddings (256 upstream); a tensor of a .tflite file at most this many
# elements (a bundle's largest input is ~25 K).
MAX_SEQ_LEN = 4096
MAX_TENSOR_ELEMENTS = 64_000_000
# Text from files printed to a terminal.
MAX_PRINTED_CHARS = 2000


class LimitExceeded(ValueError):
    """A file goes beyond one of the limits above; the message names the limit."""


def check_size(path: str | os.PathLike, limit: int, name: str) -> int:
    """The file's size in bytes, or ``LimitExceeded`` naming ``name`` when above ``limit``.
    ``OSError`` passes through (the caller names missing and unreadable files)."""
    size = Path(path).stat().st_size
    if size > limit:
        raise LimitExceeded(f"is {size:,} bytes, above the {name} limit of {limit:,} bytes")
    return size


def check_elements(shape, what: str) -> None:
    """Refuse a declared tensor shape above ``MAX_TENSOR_ELEMENTS`` before anything is
    allocated for it (a 1 KB file can declare a 600 GiB input)."""
    import math

    count = math.prod(int(n) for n in shape)
    if count > MAX_TENSOR_ELEMENTS:
        raise LimitExceeded(
            f"{what} declares shape {list(map(int, shape))} ({count:,} elements), above the "
            f"limit of {MAX_TENSOR_ELEMENTS:,}"
        )


def walk_limits(
    value: object, *, depth: int = MAX_NESTING, nodes: int = MAX_JSON_NODES, name: str = ""
) -> None:
    """Refuse a structure nested deeper than ``depth`` or holding more than ``nodes``
    containers and items (each shared object counted once).

    Raises:
        LimitExceeded: naming the limit (``name`` says which kind of file).
    """
    seen: set[int] = set()
    stack: list[tuple[object, int]] = [(value, 1)]
    count = 0
    while stack:
        item, level = stack.pop()
        count += 1
        if count > nodes:
            raise LimitExceeded(f"holds more than {nodes:,} values ({name} node limit)")
        if not isinstance(item, (dict, list, tuple, set, frozenset)) or id(item) in seen:
            continue
        seen.add(id(item))
        if level > depth:
            raise LimitExceeded(f"is nested more than {depth} levels deep ({name} depth limit)")
        children = [*item.keys(), *item.values()] if isinstance(item, Mapping) else list(item)
        stack.extend((child, level + 1) for child in children)

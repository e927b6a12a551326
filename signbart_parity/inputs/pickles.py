"""A safe reader for sample pickles: numpy arrays and plain containers, nothing else.

Whatever the protocol (0 and 2 spell array bytes through ``_codecs.encode``, 5 through
``numpy._core.numeric._frombuffer``), only numpy's own array reconstruction is admitted, each
through a wrapper that refuses a declared shape beyond ``MAX_ARRAY_ELEMENTS`` before numpy
allocates it; no other global is ever looked up. The file size is checked before reading and
the result's depth and node count after (``limits.walk_limits``).
"""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path

import numpy as np

from signbart_parity.limits import (
    MAX_ARRAY_ELEMENTS,
    MAX_NESTING,
    MAX_SAMPLE_BYTES,
    MAX_SAMPLE_NODES,
    LimitExceeded,
    check_size,
    walk_limits,
)


class ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle references something other than numpy arrays and builtins."""


def _checked_shape(shape) -> None:
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise pickle.UnpicklingError(f"an array shape {shape!r} is not a tuple of sizes")
    if math.prod(shape) > MAX_ARRAY_ELEMENTS:
        raise LimitExceeded(
            f"declares an array of shape {shape}, above the limit of {MAX_ARRAY_ELEMENTS:,} "
            "elements"
        )


def _reconstruct(subtype, shape, dtype):
    from numpy._core.multiarray import _reconstruct as numpy_reconstruct

    if subtype is not np.ndarray:
        raise ForbiddenGlobal("only plain numpy arrays may be reconstructed")
    _checked_shape(shape)
    return numpy_reconstruct(subtype, shape, dtype)


def _frombuffer(buffer, dtype, shape, order):
    from numpy._core.numeric import _frombuffer as numpy_frombuffer

    _checked_shape(shape)
    return numpy_frombuffer(buffer, dtype, shape, order)


def _latin1_bytes(text, encoding="latin1"):
    """What protocols 0 and 2 use for bytes: ``_codecs.encode(text, 'latin1')``, and only that
    codec (others can compress or decompress)."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise ForbiddenGlobal(f"codec {encoding!r} is not allowed")
    return text.encode("latin-1")


def _scalar(dtype, data=None):
    from numpy._core.multiarray import scalar as numpy_scalar

    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise ForbiddenGlobal("only numeric numpy scalars are allowed")
    return numpy_scalar(dtype, data)


_ALLOWED = {
    "_reconstruct": _reconstruct,
    "_frombuffer": _frombuffer,
    "scalar": _scalar,
}
_NUMPY_MODULES = (
    "numpy.core.multiarray",
    "numpy._core.multiarray",
    "numpy.core.numeric",
    "numpy._core.numeric",
)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module in _NUMPY_MODULES and name in _ALLOWED:
            return _ALLOWED[name]
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if module == "builtins" and name in ("set", "frozenset", "complex"):
            return {"set": set, "frozenset": frozenset, "complex": complex}[name]
        raise ForbiddenGlobal(f"global '{module}.{name}' is not allowed")


def load_arrays_pickle(path: Path) -> object:
    """The pickle's content: numpy arrays, numbers, strings and plain containers.

    Raises:
        OSError: the file is missing or unreadable.
        ForbiddenGlobal: it references anything else (a class, a function).
        LimitExceeded: too large a file, array, depth or node count (the limit is named).
        pickle.UnpicklingError: anything else wrong with it (truncated, corrupt).
    """
    check_size(path, MAX_SAMPLE_BYTES, "sample file size")
    data = path.read_bytes()
    try:
        loaded = _ArraysOnlyUnpickler(io.BytesIO(data)).load()
    except (ForbiddenGlobal, LimitExceeded):
        raise
    except MemoryError:
        raise LimitExceeded("needs more memory than this machine has to unpickle") from None
    except Exception as exc:  # numpy and the unpickler raise many types for a corrupt file
        raise pickle.UnpicklingError(str(exc)) from None
    walk_limits(loaded, depth=MAX_NESTING, nodes=MAX_SAMPLE_NODES, name="sample pickle")
    return loaded

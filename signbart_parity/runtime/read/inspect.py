"""Looking inside a .tflite file: every intermediate tensor of one run (for divergence
localisation), and the dtypes of the tensors it stores.

Runs through the chosen runtime's Interpreter (ai_edge_litert, tflite_runtime or
TensorFlow's tf.lite) with every tensor preserved and no delegate: a delegate computes its
partitions internally and leaves intermediate tensors unfilled. CompiledModel exposes no
intermediate tensors, so the ``compiled`` runtime is inspected through ai_edge_litert's
Interpreter, which shares its kernels' file format but not its delegate. A pinned build
(``tflite-runtime==2.14.0``) is inspected inside its worker process (``runtime/worker/client.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from signbart_parity.quiet import notices_dropped
from signbart_parity.runtime.read.provenance import metadata_entries
from signbart_parity.runtime.run import backends
from signbart_parity.runtime.worker import client as worker
from signbart_parity.runtime_specs import parse_runtime_spec


def intermediates(
    path: str | Path,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    *,
    runtime: str = "litert",
    signature: str | None = None,
) -> list[tuple[str, np.ndarray]]:
    """Every float tensor of one invocation of ``path`` on a single example (batch 1): of
    its ``signature`` (the only one when None), or of its only subgraph when it has none."""
    spec = parse_runtime_spec(runtime)
    if not spec.in_process:
        return worker.intermediates(
            path, keypoints, attention_mask, runtime=str(spec), signature=signature
        )
    with notices_dropped():
        return backends.intermediates(
            path, keypoints, attention_mask, spec.entry.worker_entry(), signature
        )


def tensor_values(
    path: str | Path,
    keypoints: np.ndarray,
    attention_mask: np.ndarray,
    indices: list[int],
    *,
    runtime: str = "litert",
    signature: str | None = None,
) -> dict[int, np.ndarray]:
    """Tensor index -> value, for the ``indices`` of the signature's subgraph
    (``runtime/read/graph.py`` numbers them) after one invocation on a single example, as
    the file stores them (an int8 tensor stays int8); tensors without data are left out."""
    spec = parse_runtime_spec(runtime)
    if not spec.in_process:
        return worker.tensor_values(
            path,
            keypoints,
            attention_mask,
            runtime=str(spec),
            signature=signature,
            indices=indices,
        )
    with notices_dropped():
        found, values = backends.tensor_values(
            path, keypoints, attention_mask, spec.entry.worker_entry(), signature, indices
        )
    return dict(zip(found, values, strict=True))


def tensor_dtypes(path: str | Path, runtime: str = "litert") -> set[str]:
    """The dtypes of the tensors the file holds (empty when it cannot be read)."""
    spec = parse_runtime_spec(runtime)
    if not spec.in_process:
        return worker.tensor_dtypes(path, str(spec))
    with notices_dropped():
        return backends.tensor_dtypes(path, spec.entry.worker_entry())


def min_runtime_version(path: str | Path) -> str | None:
    """The ``min_runtime_version`` a file's metadata claims (the converter writes it), or
    None when it records none. Read from the flatbuffer, without loading a runtime."""
    raw = metadata_entries(path).get("min_runtime_version", b"")
    text = raw.split(b"\0", 1)[0].decode("ascii", errors="replace")
    return text or None

"""Benchmark STALE detection: what ``verify`` and ``golden check`` add on top of loading the
checkpoint (reading the file's provenance stamp + the weights fingerprint of the loaded
model), next to loading the checkpoint itself. Medians of ``--runs`` timeit repeats.

    python benchmarks/stale_detection.py --tflite FILE [--config C --checkpoint P] [--runs 7]

Without ``--tflite`` it exports the model at seq_len 64 (fp32) into a temporary folder
first. Prints one line per step, and one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import timeit
from pathlib import Path


def median_seconds(step, runs: int) -> float:
    return statistics.median(timeit.repeat(step, number=1, repeat=runs))


def main() -> None:
    from signbart_parity.checks.provenance import judge_provenance
    from signbart_parity.model.checkpoint import load_model
    from signbart_parity.model.default import resolve_model_paths
    from signbart_parity.model.fingerprint import weights_fingerprint
    from signbart_parity.runtime.read.provenance import read_provenance

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tflite", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    config, checkpoint = resolve_model_paths(args.config, args.checkpoint)
    model = load_model(config, checkpoint).model
    with tempfile.TemporaryDirectory() as folder:
        path = args.tflite
        if path is None:
            from signbart_parity.export.convert import convert

            path = convert(model, seq_len=64, output=Path(folder) / "m.tflite").path
        steps = {
            "load checkpoint (load_model)": lambda: load_model(config, checkpoint),
            "read stamp": lambda: read_provenance(path),
            "weights fingerprint": lambda: weights_fingerprint(model),
            "stale detection (stamp + fingerprint + verdict)": lambda: judge_provenance(
                path, weights_fingerprint(model), against="x", config=config, checkpoint=checkpoint
            ),
        }
        found = {name: median_seconds(step, args.runs) for name, step in steps.items()}
        size = Path(path).stat().st_size
    for name, seconds in found.items():
        print(f"{name}: {seconds * 1e3:.1f} ms")
    summary = {name: round(seconds * 1e3, 2) for name, seconds in found.items()}
    summary["parameters"] = sum(t.numel() for t in model.state_dict().values())
    summary["file_bytes"] = size
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

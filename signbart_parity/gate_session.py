"""State of one gate session: the model, its exports (via the cache), and the results.

The pytest fixtures in ``plugin.py`` build one ``GateSession`` and hand its parts to the
property tests; ``results()`` becomes ``parity.json``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signbart_parity.cache import ExportCache, ExportRequest, model_fingerprint
from signbart_parity.checkpoint import file_sha256
from signbart_parity.compare import Comparison
from signbart_parity.tolerances import TOLERANCES

MAX_SAMPLES_PER_ROW = 500
# Properties comparing TFLite with PyTorch; the others compare TFLite with itself.
VERSUS_PYTORCH = ("parity", "real-sample", "agreement")


@dataclass(frozen=True)
class GateOptions:
    config: Path
    checkpoint: Path
    seq_lens: tuple[int, ...]
    quantizations: tuple[str, ...]
    runtimes: tuple[str, ...]
    cache_dir: Path
    report_dir: Path | None
    samples: tuple[Path, ...]
    samples_given: bool = False
    baseline: Path | None = None
    baseline_seq_len: int | None = None
    max_flip_rate: float = 0.0


@dataclass(frozen=True)
class Target:
    """One exported file under test, run by one runtime."""

    seq_len: int
    quantization: str
    runtime: str

    def __str__(self) -> str:
        return f"seq_len {self.seq_len}, {self.quantization}, {self.runtime}"


@dataclass
class Row:
    examples: int = 0
    passed: bool = True
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    top1_agreed: int = 0
    top1_compared: int = 0
    oracle_max_abs_err: float | None = None
    tflite_oracle_max_abs_err: float | None = None
    checks: dict = field(default_factory=dict)
    divergence: str | None = None
    samples: list = field(default_factory=list)
    worst: list = field(default_factory=list)


class GateSession:
    def __init__(self, options: GateOptions, model, config, *, export_model=None) -> None:
        self.options = options
        self.model = model  # the reference: PyTorch as the checkpoint defines it
        self.export_model = export_model if export_model is not None else model
        self.config = config
        self.cache = ExportCache(options.cache_dir)
        self.started = time.perf_counter()
        self._fingerprint = model_fingerprint(self.export_model)
        self._paths: dict[tuple[int, str], Path] = {}
        self._runtimes: dict[Target, object] = {}
        self._rows: dict[Target, Row] = defaultdict(Row)
        self._since_last_take: list[Comparison] = []

    # -- exports ---------------------------------------------------------------------
    def export_path(self, seq_len: int, quantization: str) -> Path:
        """The .tflite for (seq_len, quantization): converted once, then served by the cache."""
        key = (seq_len, quantization)
        if key not in self._paths:
            self._paths[key] = self._export(seq_len, quantization)
        return self._paths[key]

    def _export(self, seq_len: int, quantization: str) -> Path:
        from signbart_parity.convert import export_fp32, quantize_file

        calibration = self._calibration(seq_len) if quantization == "static-int8" else None
        request = ExportRequest(
            fingerprint=self._fingerprint,
            config=self.config.to_dict(),
            seq_len=seq_len,
            quantization=quantization,
            calibration=str(calibration.to_dict()) if calibration else "",
        )
        if quantization == "none":
            return self.cache.get(
                request, lambda path: export_fp32(self.export_model, seq_len=seq_len, output=path)
            )
        fp32 = self.export_path(seq_len, "none")
        return self.cache.get(
            request,
            lambda path: quantize_file(
                fp32,
                output=path,
                quantization=quantization,
                calibration=calibration.inputs if calibration else None,
            ),
        )

    def _calibration(self, seq_len: int):
        """Static-int8 calibration: the user's --parity-samples if given, else generated.

        The bundled sample alone (one sequence) is too few to calibrate on.
        """
        from signbart_parity.calibration import calibration_set
        from signbart_parity.samples import sample_paths

        given = sample_paths(self.options.samples) if self.options.samples_given else []
        return calibration_set(self.config, seq_len, samples=given)

    def tflite(self, target: Target):
        from signbart_parity.runtime import TFLiteModel

        if target not in self._runtimes:
            path = self.export_path(target.seq_len, target.quantization)
            self._runtimes[target] = TFLiteModel(path, runtime=target.runtime)
        return self._runtimes[target]

    # -- results ---------------------------------------------------------------------
    def record(
        self,
        target: Target,
        prop: str,
        comparison: Comparison,
        masks: np.ndarray,
        *,
        oracle_err: float | None = None,
        tflite_oracle_err: float | None = None,
    ) -> None:
        """Add one checked example. Only TFLite-vs-PyTorch properties feed the error
        columns and plots; the others (TFLite against itself) count and can fail the row."""
        from signbart_parity.masks import summarise

        self._since_last_take.append(comparison)
        row = self._rows[target]
        row.examples += comparison.examples
        row.passed &= comparison.passed
        tally = row.checks.setdefault(prop, {"examples": 0, "failed": 0})
        tally["examples"] += comparison.examples
        tally["failed"] += comparison.failing_examples
        # The example the comparison found worst (the only one, for a single example).
        mask = np.asarray(masks)[comparison.worst.get("example", 0)]
        sample = {
            "abs_err": comparison.max_abs_err,
            "valid_frames": int(mask.sum()),
            "mask": summarise(mask),
            "property": prop,
            "passed": comparison.passed,
        }
        if prop in VERSUS_PYTORCH:
            row.max_abs_err = max(row.max_abs_err, comparison.max_abs_err)
            row.max_rel_err = max(row.max_rel_err, comparison.max_rel_err)
            row.top1_agreed += round(comparison.top1_agreement * comparison.examples)
            row.top1_compared += comparison.examples
            if oracle_err is not None:
                row.oracle_max_abs_err = max(row.oracle_max_abs_err or 0.0, oracle_err)
            if tflite_oracle_err is not None:
                row.tflite_oracle_max_abs_err = max(
                    row.tflite_oracle_max_abs_err or 0.0, tflite_oracle_err
                )
            # Plotted per example: a batch comparison (agreement) has no single mask.
            if comparison.examples == 1 and len(row.samples) < MAX_SAMPLES_PER_ROW:
                row.samples.append(sample)
        if (prop in VERSUS_PYTORCH and comparison.examples == 1) or not comparison.passed:
            row.worst.append(sample | {"message": comparison.message()})
            row.worst = sorted(row.worst, key=lambda s: (s["passed"], -s["abs_err"]))[:5]

    def note_divergence(self, target: Target, text: str) -> None:
        """Keep the first divergence localisation of a failing target for the report."""
        self._rows[target].divergence = self._rows[target].divergence or text

    def take_test_numbers(self) -> dict[str, float | int]:
        """Numbers of the comparisons recorded since the last call (that is, by the test
        that just ran), for its JUnit XML properties."""
        taken, self._since_last_take = self._since_last_take, []
        if not taken:
            return {}
        return {
            "parity_examples": sum(c.examples for c in taken),
            "parity_failed_examples": sum(c.failing_examples for c in taken),
            "parity_max_abs_err": max(c.max_abs_err for c in taken),
            "parity_max_rel_err": max(c.max_rel_err for c in taken),
            "parity_bound_ratio": max(c.bound_ratio for c in taken),
        }

    def latency_ms(self, target: Target, iterations: int = 30) -> float:
        """Median TFLite latency of this target, measured as ``bench`` measures it."""
        from signbart_parity.bench import measure, timing_input

        keypoints, masks = timing_input(self.config, target.seq_len)
        tflite = self.tflite(target)
        return measure(lambda: tflite(keypoints, masks), iterations)[0]

    def torch_latency_ms(self, seq_len: int, iterations: int = 30) -> float:
        """Median PyTorch eager latency at ``seq_len``, measured the same way."""
        import torch

        from signbart_parity.bench import measure, timing_input

        keypoints, masks = timing_input(self.config, seq_len)
        inputs = torch.from_numpy(keypoints), torch.from_numpy(masks)
        with torch.inference_mode():
            return measure(lambda: self.model(*inputs), iterations)[0]

    def results(self) -> dict:
        from signbart_parity.report import environment as report_environment

        rows = []
        for target in sorted(self._rows, key=lambda t: (t.seq_len, t.quantization, t.runtime)):
            row = self._rows[target]
            path = self._paths.get((target.seq_len, target.quantization))
            rows.append(
                {
                    "seq_len": target.seq_len,
                    "quantization": target.quantization,
                    "runtime": target.runtime,
                    "examples": row.examples,
                    "max_abs_err": row.max_abs_err,
                    "max_rel_err": row.max_rel_err,
                    "top1_agreement": (
                        row.top1_agreed / row.top1_compared if row.top1_compared else None
                    ),
                    "top1_agreed": row.top1_agreed,
                    "top1_compared": row.top1_compared,
                    "checks": row.checks,
                    "divergence": row.divergence,
                    "latency_ms": round(self.latency_ms(target), 3),
                    "passed": row.passed,
                    "oracle_max_abs_err": row.oracle_max_abs_err,
                    "tflite_oracle_max_abs_err": row.tflite_oracle_max_abs_err,
                    "size_bytes": path.stat().st_size if path else None,
                    "samples": row.samples,
                    "worst": row.worst,
                }
            )
        return {
            "schema": 1,
            "passed": all(row["passed"] for row in rows),
            "checkpoint": {
                "path": str(self.options.checkpoint),
                "sha256": file_sha256(self.options.checkpoint),
            },
            "config": {
                "path": str(self.options.config),
                "sha256": file_sha256(self.options.config),
                "values": self.config.to_dict(),
            },
            "environment": report_environment(),
            "tolerances": {name: tol.describe() for name, tol in TOLERANCES.items()},
            "results": rows,
            "torch_latency_ms": {
                str(seq_len): round(self.torch_latency_ms(seq_len), 3)
                for seq_len in sorted({row["seq_len"] for row in rows})
            },
            "conversions": self.cache.stats.conversions,
            "cache_hits": self.cache.stats.hits,
            "duration_s": round(time.perf_counter() - self.started, 2),
        }

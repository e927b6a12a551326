"""State of one gate session: the model, its exports (via the cache), and the rows of
numbers the property tests record.

The pytest fixtures in ``plugin.py`` build one ``GateSession`` per process and give each
test a ``CaseRecorder``, which records the examples hypothesis *generated* (not its shrinking
re-runs) and tells the test when it holds the minimal failing example.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from signbart_parity.checks.compare import Comparison
from signbart_parity.export.cache import ExportCache
from signbart_parity.export.exporter import Exporter
from signbart_parity.gate.corpus import save_found
from signbart_parity.gate.options import GateOptions
from signbart_parity.inputs.calibration import calibration_sets
from signbart_parity.reports.checks import record
from signbart_parity.reports.model import Row
from signbart_parity.runtime.read.signature import signature_name
from signbart_parity.runtime.run.tflite import TFLiteModel
from signbart_parity.targets import Target


class GateSession:
    def __init__(self, options: GateOptions, model, config, *, export_model=None) -> None:
        self.options = options
        self.model = model  # the reference: PyTorch as the checkpoint defines it
        self.export_model = export_model if export_model is not None else model
        self.config = config
        self.cache = ExportCache(options.cache_dir)
        self.exporter = Exporter(self.export_model, cache=self.cache, calibrate=self._calibration)
        self._runtimes: dict[Target, object] = {}
        self._rows: dict[Target, Row] = {}

    # -- exports ---------------------------------------------------------------------
    def _lengths(self, seq_len: int) -> tuple[int, ...]:
        """What the export holding ``seq_len`` holds: it alone, or (--parity-bundle) every
        gated seq_len, one signature each."""
        return self.options.seq_lens if self.options.bundle else (seq_len,)

    def export_path(self, seq_len: int, quantization: str) -> Path:
        """The .tflite holding (seq_len, quantization): converted once, then cached."""
        return self.exporter.export(self._lengths(seq_len), quantization).path

    def _calibration(self, lengths: tuple[int, ...]) -> dict:
        """Static-int8 calibration per seq_len: the user's --parity-samples if given, else
        generated. The bundled sample alone (one sequence) is too few to calibrate on."""
        given = list(self.options.samples) if self.options.samples_given else []
        return calibration_sets(self.config, lengths, samples=given)

    def tflite(self, target: Target):
        if target not in self._runtimes:
            path = self.export_path(target.seq_len, target.quantization)
            signature = signature_name(target.seq_len) if self.options.bundle else None
            self._runtimes[target] = TFLiteModel(path, runtime=target.runtime, signature=signature)
        return self._runtimes[target]

    # -- results ---------------------------------------------------------------------
    def row(self, target: Target) -> Row:
        if target not in self._rows:
            self._rows[target] = Row(target)
        return self._rows[target]

    def rows(self) -> list[Row]:
        """Rows of every target with recorded numbers, each with its file and size."""
        rows = []
        for target in sorted(self._rows):
            row = self._rows[target]
            if target in self._runtimes:
                row.describe_file(self._runtimes[target])
            rows.append(row)
        return rows


class CaseRecorder:
    """Records one test's comparisons into the session, following hypothesis's phases.

    Examples count until the first failure; the shrinking and explaining re-runs after it
    are not examples of the file and are not recorded. ``is_final`` is true on hypothesis's
    final replay of the minimal failing example (and in tests without hypothesis): the one
    call worth localising and describing.
    """

    def __init__(self, session: GateSession) -> None:
        self.session = session
        self.recorded: list[Comparison] = []
        self.corpus_properties: list[tuple[str, str]] = []  # counterexamples saved
        self.outside_examples = 0  # run outside the app contract, counted, not judged
        self._failed = False

    @property
    def is_final(self) -> bool:
        from hypothesis import currently_in_test_context

        if not currently_in_test_context():
            return True
        from hypothesis.control import current_build_context

        return current_build_context().is_final

    def record(
        self,
        target: Target,
        check: str,
        comparison: Comparison,
        masks: np.ndarray,
        *,
        oracle_err: float | None = None,
        tflite_oracle_err: float | None = None,
    ) -> None:
        if self._failed:
            return  # a shrinking re-run, not a generated example
        self.session.row(target).add(
            check,
            comparison,
            masks,
            oracle_err=oracle_err,
            tflite_oracle_err=tflite_oracle_err,
        )
        self.recorded.append(comparison)
        self._failed = not comparison.passed

    def record_result(
        self, target: Target, result, *, oracle: tuple[float, float] | None = None
    ) -> None:
        """Record a check of the table (a ``table.CheckResult``) into ``target``'s row:
        its judged examples, and apart those outside the app contract."""
        if self._failed:
            return  # a shrinking re-run, not a generated example
        record(self.session.row(target), result, oracle=oracle)
        self.recorded.append(result.comparison)
        self.outside_examples += result.outside.examples if result.outside is not None else 0
        self._failed = not result.passed

    def keep_counterexample(
        self, target: Target, check: str, keypoints, masks, descriptions
    ) -> None:
        """Save the minimal failing example (rows: lists of arrays) to the corpus."""
        self.corpus_properties += save_found(
            self.session, target, check, keypoints, masks, descriptions
        )

    def note_divergence(self, target: Target, text: str) -> None:
        """Keep the divergence found on the minimal failing example for the report."""
        row = self.session.row(target)
        row.divergence = row.divergence or text

    def junit_numbers(self) -> list[tuple[str, float | int]]:
        """This test's numbers, as JUnit XML properties."""
        taken = self.recorded
        if not taken:
            return []
        return [
            ("parity_examples", sum(c.examples for c in taken) + self.outside_examples),
            ("parity_outside_contract_examples", self.outside_examples),
            ("parity_failed_examples", sum(c.failing_examples for c in taken)),
            ("parity_max_abs_err", max(c.max_abs_err for c in taken)),
            ("parity_max_rel_err", max(c.max_rel_err for c in taken)),
            ("parity_bound_ratio", max(c.bound_ratio for c in taken)),
        ]

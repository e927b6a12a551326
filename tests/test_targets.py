"""A target is parsed once at the edge and printed one way: its precision in the users'
word (fp32, never the converter's none), its runtime as the canonical spec."""

from __future__ import annotations

import json

import pytest

from signbart_parity.reports.model import Report
from signbart_parity.runtime_specs import RuntimeSpec
from signbart_parity.targets import Target
from tests.test_report import fake_report, fake_row


def test_fp32_and_none_name_one_target_printed_as_fp32() -> None:
    given_none, given_fp32 = Target(16, "none", "litert"), Target(16, "fp32", "litert")
    assert given_none == given_fp32 and hash(given_none) == hash(given_fp32)
    assert given_none.quantization == "none" and given_none.precision == "fp32"
    assert str(given_none) == "seq_len 16, fp32, litert"
    assert given_none.id == "16|fp32|litert" and Target.from_id(given_none.id) == given_none
    assert given_none.to_dict() == {"seq_len": 16, "quantization": "fp32", "runtime": "litert"}


def test_the_runtime_is_parsed_once_into_its_canonical_spec() -> None:
    target = Target(64, "dynamic-int8", " litert==2.3.0@arm64:neoverse-n1 ")
    assert target.runtime == "litert==2.3.0@arm64:neoverse-n1"
    assert target.spec == RuntimeSpec("litert", "2.3.0", "arm64", "neoverse-n1")
    assert Target.from_id(target.id) == target
    with pytest.raises(ValueError, match="unknown value 'nope' for a runtime"):
        Target(16, "fp32", "nope")


def test_a_report_written_before_still_reads_and_is_written_back_with_fp32() -> None:
    """Reports and corpora written before said ``none`` for fp32: they still load (report
    merge, the baseline, the corpus) and are written back in the users' word."""
    text = json.dumps(fake_report([fake_row(16, "none", "litert")]).to_dict())
    assert '"quantization": "fp32"' in text and '"quantization": "none"' not in text
    old = json.loads(text.replace('"quantization": "fp32"', '"quantization": "none"'))
    report = Report.from_dict(old)
    (row,) = report.rows
    assert row.target == Target(16, "fp32", "litert")
    assert all(outcome.target == row.target for outcome in report.outcomes)
    assert '"quantization": "none"' not in json.dumps(report.to_dict())

"""Is this file stale? Its provenance stamp against the weights it is checked against.

``verify`` compares the file's stamped weights fingerprint with the checkpoint under test,
``golden check`` with the one the golden file was made from. A different fingerprint means
the file was exported from other weights: it is STALE, and the fix is to re-export it, not
to debug the conversion. The same tensors saved in another checkpoint layout have the same
fingerprint (``model/fingerprint.py``). A file without a stamp (made elsewhere) is checked
as it is, and its provenance is said to be unknown.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from signbart_parity.errors import TFLiteFileError
from signbart_parity.model.fingerprint import short_fingerprint
from signbart_parity.runtime.read.provenance import UNKNOWN, Provenance, read_provenance
from signbart_parity.targets import precision_label

MATCHES, STALE, NOT_STAMPED, NOT_COMPARED = "matches", "stale", "unknown", "not compared"
BASELINE = "baseline"  # shown, never judged (the gate's --parity-baseline)


@dataclass(frozen=True)
class ProvenanceFinding:
    """The verdict on a file's stamp: ``status`` is one of MATCHES, STALE, NOT_STAMPED,
    NOT_COMPARED (nothing to compare it with), BASELINE; ``line`` says it for people."""

    status: str
    line: str
    stamp: Provenance | None
    expected: str | None  # the weights fingerprint it was compared with
    reexport: str | None = None  # the command that re-exports a stale file

    @property
    def stale(self) -> bool:
        return self.status == STALE

    def lines(self) -> list[str]:
        if not self.stale:
            return [self.line]
        return [self.line, f"  re-export it: {self.reexport}"]

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "line": self.line,
            "expected_weights": self.expected,
            "stamp": self.stamp.to_dict() if self.stamp else None,
            "reexport": self.reexport,
        }


def reexport_command(
    stamp: Provenance, *, config: str | Path, checkpoint: str | Path, output: str | Path
) -> str:
    """The ``convert`` command that makes the file again from ``checkpoint``, with the
    file's own seq_lens and precision in the users' words (``fp32``, not ``none``; paths
    quoted for a POSIX shell)."""
    return shlex.join(
        [
            "signbart-parity",
            "convert",
            "--config",
            str(config),
            "--checkpoint",
            str(checkpoint),
            "--seq-len",
            ",".join(map(str, stamp.seq_lens)),
            "--quantization",
            precision_label(stamp.quantization),
            "--output",
            str(output),
        ]  # fmt: skip
    )


def judge_provenance(
    path: str | Path,
    expected: str | None,
    *,
    against: str,
    config: str | Path,
    checkpoint: str | Path,
) -> ProvenanceFinding:
    """``path``'s stamp against the weights fingerprint ``expected`` (None: nothing to compare
    with). ``against`` names where ``expected`` comes from in messages (``the checkpoint under
    test x.pth``); ``config`` and ``checkpoint`` go into the re-export command."""
    stamp = read_provenance(path)
    if stamp is None:
        line = f"{UNKNOWN}: {path} was not made by signbart-parity convert; checked as it is"
        return ProvenanceFinding(NOT_STAMPED, line, None, expected)
    made = f"{path} was exported from weights {stamp.short_weights} ({stamp.describe()})"
    if expected is None:
        line = f"provenance: {made}; not compared: {against} records no weights fingerprint"
        return ProvenanceFinding(NOT_COMPARED, line, stamp, None)
    if stamp.weights == expected:
        return ProvenanceFinding(
            MATCHES, f"provenance: {made}: the weights of {against}", stamp, expected
        )
    line = (
        f"STALE: {made}, but {against} has weights {short_fingerprint(expected)}: the file "
        "is out of date, not a broken conversion"
    )
    command = reexport_command(stamp, config=config, checkpoint=checkpoint, output=path)
    return ProvenanceFinding(STALE, line, stamp, expected, command)


def baseline_provenance(path: str | Path, expected: str) -> ProvenanceFinding:
    """The gate's ``--parity-baseline`` is an older shipped file by definition: its stamp is
    shown (which weights, which tool made it) but never judged, whatever its weights."""
    try:
        stamp = read_provenance(path)
    except TFLiteFileError as exc:  # a damaged stamp does not stop the gate
        return ProvenanceFinding(NOT_STAMPED, f"shipped file: {exc}", None, expected)
    if stamp is None:
        line = f"{UNKNOWN}: the shipped file {path} was not made by signbart-parity convert"
        return ProvenanceFinding(NOT_STAMPED, line, None, expected)
    same = "the same weights as" if stamp.weights == expected else "other weights than"
    line = (
        f"shipped file {path} was exported from weights {stamp.short_weights} "
        f"({stamp.describe()}): {same} the checkpoint under test "
        f"({short_fingerprint(expected)}); expected of a baseline, not judged"
    )
    return ProvenanceFinding(BASELINE, line, stamp, expected)

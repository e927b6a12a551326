"""Every option either front door takes, declared once: its name, type, default and help.

The CLI (``cli/``) adds an option as ``--NAME``; the pytest gate (``gate/``) as
``--parity-NAME``, with default ``None`` so that "a gate option was named" is "an option is
not None", and fills in the default from here when it validates. A new option goes into
``OPTIONS``; each door then picks it by key. Nothing heavy is imported: the gate registers
its options when pytest starts.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signbart_parity import argtypes
from signbart_parity.runtime_specs import REGISTRY, RUNTIMES
from signbart_parity.targets import precision_label


@dataclass(frozen=True)
class Option:
    name: str  # the CLI spelling without dashes; the gate's is "parity-" + name
    help: str  # what it is, without the default (each door appends it)
    default: Any = None
    type: Any = None
    metavar: str | None = None
    gate: bool = False  # the gate takes it (as --parity-NAME)
    extra: dict[str, Any] = field(default_factory=dict)  # nargs, action, choices
    word: Any = str  # how help names one default value (precisions in the users' word)

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def gate_dest(self) -> str:
        return "parity_" + self.dest

    def default_text(self) -> str:
        if isinstance(self.default, tuple):
            return ",".join(map(self.word, self.default))
        return "none" if self.default is None else self.word(self.default)


QUANTIZATION_WORDS = "fp32 (also: none), fp16, dynamic-int8, weight-only-int8, static-int8"
_RUNTIME_WORDS = (
    ", ".join(f"{name} ({REGISTRY[name].words})" for name in RUNTIMES)
    + "; or a pinned build run out of process: "
    + ", ".join(f"{name}==X.Y.Z" for name in REGISTRY)
    + ", each optionally @arm64[:CPU]"
)
OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        Option(
            "checkpoint",
            "checkpoint (.pth: a state_dict, or one under model, model_state_dict or "
            "state_dict). Default: the embedded default model",
            type=Path,
            metavar="PATH",
            gate=True,
        ),
        Option(
            "config",
            "its SignBart YAML config. Default: the embedded default's (configs/arabic-asl.yaml)",
            type=Path,
            metavar="PATH",
            gate=True,
        ),
        Option(
            "seq-lens",
            "sequence lengths to export (one file each)",
            default=(16, 64),
            type=argtypes.positive_seq_lens,
            metavar="T,T",
            gate=True,
        ),
        Option(
            "quantization",
            f"precisions: {QUANTIZATION_WORDS}",
            default=("none", "dynamic-int8"),
            type=argtypes.quantizations,
            metavar="Q,Q",
            gate=True,
            word=precision_label,
        ),
        Option(
            "runtime",
            f"TFLite runtimes: {_RUNTIME_WORDS}",
            default=("litert",),
            type=argtypes.runtimes,
            metavar="R,R",
            gate=True,
        ),
        Option(
            "cache",
            "where exported files are cached across sessions (the same folder at every door). "
            "Default: $SIGNBART_PARITY_CACHE, else the per-user cache dir",
            type=Path,
            metavar="DIR",
            gate=True,
        ),
        Option(
            "corpus",
            "the counterexample corpus: failing examples the gate finds are saved here as "
            "golden .npz files and replayed first on every later run. Default: corpus/ in "
            "the cache dir",
            type=Path,
            metavar="DIR",
            gate=True,
        ),
        Option(
            "report",
            "write parity.json, parity.md and parity.html into DIR",
            type=Path,
            metavar="DIR",
            gate=True,
        ),
        Option(
            "samples",
            "real upstream .pkl samples (or folders of them) of the model's keypoint layout",
            type=Path,
            metavar="PKL",
            gate=True,
            extra={"nargs": "+"},
        ),
        Option(
            "baseline",
            "the .tflite the app shipped: contract changes fail, prediction flips are counted",
            type=Path,
            metavar="TFLITE",
            gate=True,
        ),
        Option(
            "max-flip-rate",
            "share of predictions allowed to flip against the baseline",
            default=0.0,
            type=argtypes.rate,
            metavar="R",
            gate=True,
        ),
        Option(
            "bundle",
            "gate one file holding every --parity-seq-lens as a seq_<T> signature, as a "
            "bucketed app ships it (cached like single files). Default: one file per seq_len",
            gate=True,
            extra={"action": "store_true"},
        ),
        Option(
            "shard",
            "run shard K of N: a deterministic share of the targets (seq_len x precision x "
            "runtime), balanced by expected cost, each job converting only the files its "
            "targets need; merge the N reports with `signbart-parity report merge`. "
            "Default: the whole matrix",
            type=argtypes.shard,
            metavar="K/N",
            gate=True,
        ),
        Option(
            "judge-outside-contract",
            "let examples outside the app contract (no valid frame, the all-zero mask) decide "
            "the verdict, for an app that runs the model on such clips; by default they are "
            "run and shown under 'outside the app contract', not judged",
            default=False,
            gate=True,
            extra={"action": "store_true"},
        ),
        Option(
            "profile",
            "examples per property: dev, ci, release. Default: $SIGNBART_PARITY_PROFILE, "
            "else ci when $CI is set, else dev",
            metavar="NAME",
            gate=True,
            extra={"choices": ("dev", "ci", "release")},
        ),
        Option(
            "repro",
            "write a repro bundle of the first failing target's first failing operator into "
            "DIR: the operator alone as a .tflite, its inputs, the reference and observed "
            "outputs, the command that reproduces it, Model Explorer node data of every op",
            type=Path,
            metavar="DIR",
        ),
        Option(
            "examples",
            "generated examples per signature for the fixed-batch checks (cycling every "
            "keypoint x mask kind)",
            default=72,
            type=argtypes.count,
            metavar="N",
        ),
        Option(
            "seed",
            "seed of the generated examples",
            default=0,
            type=int,
            metavar="S",
        ),
        Option(
            "repair",
            "after the checks, search quantizer recipes for each failing dynamic-int8 or "
            "weight-only-int8 target (as the repair command does, over every runtime of the "
            "run) and write each file that passes them all into DIR, named by seq_len and "
            "precision; the verdict stays FAIL: a repaired file is a proposal to verify",
            type=Path,
            metavar="DIR",
            gate=True,
        ),
        Option(
            "budget",
            "seconds repair may spend on each file (the fp32 export included); it stops "
            "judging candidates when they run out",
            default=1800.0,
            type=argtypes.seconds,
            metavar="SECONDS",
            gate=True,
        ),
    )
}
# Options whose default is computed where the door validates them (the embedded model, the
# user's cache dir, a profile from the environment): their help says so, not "none".
_COMPUTED = {"checkpoint", "config", "cache", "corpus", "profile", "bundle"}


def gate_options() -> list[Option]:
    return [option for option in OPTIONS.values() if option.gate]


def gate_help(option: Option) -> str:
    if option.name in _COMPUTED or option.default is None:
        return option.help
    return f"{option.help}. Default: {option.default_text()}"


def add_to_cli(parser: argparse.ArgumentParser, name: str, **overrides: Any) -> None:
    """Add option ``name`` to a CLI command, with the table's type, default and help
    (``overrides`` for what one command needs differently, e.g. one precision, not a list)."""
    option = OPTIONS[name]
    settings = {
        "type": option.type,
        "default": option.default,
        "metavar": option.metavar,
        "help": option.help,
        **option.extra,
    }
    settings.update(overrides)
    if settings.get("action") == "store_true":
        settings.pop("type"), settings.pop("metavar")
    default = settings["default"]
    if name not in _COMPUTED and "help" not in overrides and default not in (None, []):
        text = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
        settings["help"] += f". Default: {text}"
    flags = settings.pop("flags", None) or [f"--{option.name}"]
    parser.add_argument(*flags, dest=settings.pop("dest", option.dest), **settings)


# The single-value forms some commands take where the gate takes lists.
ONE_QUANTIZATION = {
    "type": argtypes.quantization,
    "default": "none",
    "metavar": "Q",
    "help": f"precision: {QUANTIZATION_WORDS}. Default: fp32",
}
ONE_RUNTIME = {
    "type": argtypes.runtime,
    "default": "litert",
    "metavar": "R",
    "help": f"TFLite runtime: {_RUNTIME_WORDS}. Default: %(default)s",
}

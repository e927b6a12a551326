"""Argument types of the option table (options.py), which both front doors build from.

Each is an argparse ``type=``: it returns the parsed value or raises ``ArgumentTypeError``
with one sentence naming the bad value. A precision is the same word everywhere:
``none`` (or ``fp32``), ``fp16``, ``dynamic-int8``, ``weight-only-int8``, ``static-int8``.
Nothing heavy is imported (the gate registers its options when pytest starts).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from signbart_parity.runtime_specs import canonical_runtime
from signbart_parity.targets import FP32_ALIAS, QUANTIZATIONS


def whole_number(text: str) -> int:
    """Range checks come later, where the config says what the range is."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def count(text: str) -> int:
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a count of at least 1, got {text!r}")
    return value


def seq_lens(text: str) -> tuple[int, ...]:
    """``T`` or ``T,T,...``: sorted, without repeats (ranges are checked against the config)."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of whole numbers, e.g. 16,64 "
            f"(expected a whole number, got {text!r})"
        ) from None
    return tuple(sorted(set(values)))


def positive_seq_lens(text: str) -> tuple[int, ...]:
    values = seq_lens(text)
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"sequence lengths must be positive, got {text!r}")
    return values


def rate(text: str) -> float:
    """A share between 0 and 1 (a flip rate)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}")
    return value


def seconds(text: str) -> float:
    """A positive time in seconds (a time budget)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def choice_list(allowed: tuple[str, ...], aliases: dict[str, str] | None = None) -> Callable:
    """A comma-separated list of ``allowed`` names, in the order given, without repeats."""
    aliases = aliases or {}

    def parse(text: str) -> tuple[str, ...]:
        names = [aliases.get(part.strip(), part.strip()) for part in text.split(",")]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown value {(unknown or [text])[0]!r}; choose from {', '.join(allowed)}"
            )
        return tuple(dict.fromkeys(names))

    return parse


def quantizations(text: str) -> tuple[str, ...]:
    """Precisions, comma-separated (``fp32`` is ``none``)."""
    return choice_list(QUANTIZATIONS, {FP32_ALIAS: "none"})(text)


def one_of(parse_list: Callable[[str], tuple[str, ...]], what: str) -> Callable[[str], str]:
    """A single value of a list type (``--quantization Q`` where the gate takes ``Q,Q``)."""

    def parse(text: str) -> str:
        values = parse_list(text)
        if len(values) != 1:
            raise argparse.ArgumentTypeError(f"expected one {what}, got {text!r}")
        return values[0]

    return parse


def runtime_spec(text: str) -> str:
    """One TFLite runtime spec (``litert``, ``tflite-runtime==2.14.0``, ...), canonical."""
    try:
        return canonical_runtime(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def runtimes(text: str) -> tuple[str, ...]:
    """TFLite runtime specs, comma-separated, in the order given, without repeats."""
    return tuple(dict.fromkeys(runtime_spec(part) for part in text.split(",")))


quantization = one_of(quantizations, "precision")  # fp32 is none
runtime = one_of(runtimes, "runtime")


def thread_counts(text: str) -> tuple[int, ...]:
    """Positive thread counts like ``1,2``, in the order given, without repeats."""
    try:
        values = tuple(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected thread counts like 1,2; got {text!r}")
    return values


def shard(text: str) -> tuple[int, int]:
    """``K/N``: this job runs shard K of N (1 <= K <= N)."""
    parts = text.split("/")
    try:
        number, total = (int(part) for part in parts) if len(parts) == 2 else (0, 0)
    except ValueError:
        number, total = 0, 0
    if not 1 <= number <= total:
        raise argparse.ArgumentTypeError(
            f"expected K/N with 1 <= K <= N (shard K of N jobs), e.g. 2/3; got {text!r}"
        )
    return number, total

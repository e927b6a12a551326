"""Glue between pytest and the gate: option validation, parametrisation, the report.

Kept out of ``plugin.py`` so the plugin stays a list of options and fixtures.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from signbart_parity.gate_session import GateOptions, Target

_SESSION = pytest.StashKey()
_PARTS = ".parts"


def options_from_pytest(config: pytest.Config) -> GateOptions:
    """Read and validate the parity options; bad values are a ``pytest.UsageError``."""
    from platformdirs import user_cache_dir

    from signbart_parity.config import load_config
    from signbart_parity.default_model import resolve_model_paths
    from signbart_parity.errors import ConfigError

    config_path, checkpoint_path = resolve_model_paths(
        config.getoption("--config"), config.getoption("--checkpoint")
    )
    try:
        model_config = load_config(config_path)
    except ConfigError as exc:
        raise pytest.UsageError(f"--config: {exc}") from None
    if not checkpoint_path.is_file():
        raise pytest.UsageError(
            f"--checkpoint: {checkpoint_path}: file not found; pass an existing .pth file."
        )
    seq_lens = config.getoption("--seq-lens")
    too_long = [n for n in seq_lens if n > model_config.max_position_embeddings]
    if too_long:
        raise pytest.UsageError(
            f"--seq-lens: {too_long[0]} exceeds max_position_embeddings "
            f"{model_config.max_position_embeddings} in {config_path}; choose shorter lengths."
        )
    given = config.getoption("--parity-samples")
    samples = given or (bundled_sample(),)
    for sample in samples:
        if not sample.exists():
            raise pytest.UsageError(f"--parity-samples: {sample}: not found.")
    baseline = config.getoption("--baseline")
    baseline_seq_len = _baseline_seq_len(baseline) if baseline is not None else None
    cache = config.getoption("--parity-cache") or Path(user_cache_dir("signbart-parity"))
    return GateOptions(
        config=config_path,
        checkpoint=checkpoint_path,
        seq_lens=seq_lens,
        quantizations=config.getoption("--quantization"),
        runtimes=config.getoption("--runtime"),
        cache_dir=cache,
        report_dir=config.getoption("--parity-report"),
        samples=tuple(samples),
        samples_given=bool(given),
        baseline=baseline,
        baseline_seq_len=baseline_seq_len,
        max_flip_rate=config.getoption("--max-flip-rate"),
    )


def _baseline_seq_len(path: Path) -> int:
    from signbart_parity.errors import TFLiteFileError
    from signbart_parity.runtime import TFLiteModel

    try:
        return TFLiteModel(path).seq_len
    except TFLiteFileError as exc:
        raise pytest.UsageError(f"--baseline: {exc}") from None


def bundled_sample() -> Path:
    from importlib import resources

    return Path(str(resources.files("signbart_parity") / "data" / "mlr511_user12_G10_R10.pkl"))


def targets(options: GateOptions) -> list[Target]:
    return [
        Target(seq_len, quantization, runtime)
        for seq_len, quantization, runtime in itertools.product(
            options.seq_lens, options.quantizations, options.runtimes
        )
    ]


def baseline_targets(options: GateOptions) -> list[Target]:
    """The exported targets a shipped file can be compared with: same seq_len."""
    return [t for t in targets(options) if t.seq_len == options.baseline_seq_len]


def bucket_pairs(options: GateOptions) -> list[tuple[Target, Target]]:
    """(short, long) pairs of exported lengths, per precision and runtime."""
    pairs = []
    for short, long in itertools.combinations(options.seq_lens, 2):
        for quantization, runtime in itertools.product(options.quantizations, options.runtimes):
            pairs.append(
                (Target(short, quantization, runtime), Target(long, quantization, runtime))
            )
    return pairs


def junit_numbers(config: pytest.Config) -> list[tuple[str, float | int]]:
    """The numbers the test that just ran recorded (empty for non-gate tests)."""
    session = config.stash.get(_SESSION, None)
    return list(session.take_test_numbers().items()) if session is not None else []


def parametrize(metafunc: pytest.Metafunc, options: GateOptions) -> None:
    """Parametrise the gate's tests over the exported targets (and pairs, and baseline)."""
    if "parity_target" in metafunc.fixturenames:
        metafunc.parametrize("parity_target", targets(options), ids=str, scope="session")
    if "parity_bucket" in metafunc.fixturenames:
        pairs = bucket_pairs(options) or [_skipped("needs two --seq-lens to compare")]
        metafunc.parametrize("parity_bucket", pairs, ids=_pair_id, scope="session")
    if "parity_baseline_target" in metafunc.fixturenames:
        if options.baseline is None:
            matching = [_skipped("no --baseline given")]
        else:
            # None (no export at the shipped seq_len) makes the test fail and say so.
            matching = baseline_targets(options) or [None]
        metafunc.parametrize("parity_baseline_target", matching, ids=_baseline_id, scope="session")


def _skipped(reason: str):
    return pytest.param(None, marks=pytest.mark.skip(reason=reason))


def _baseline_id(target) -> str:
    return "no matching seq_len" if target is None else str(target)


def _pair_id(pair) -> str:
    return "no pair" if pair is None else f"{pair[0].seq_len} in {pair[1]}"


def register_session(config: pytest.Config, session) -> None:
    config.stash[_SESSION] = session


def finish_report(config: pytest.Config) -> None:
    """Write this process's results; the xdist controller merges the workers' parts."""
    report_dir = config.getoption("--parity-report")
    if report_dir is None:
        return
    from signbart_parity.fileio import write_json_atomic
    from signbart_parity.report import merge_reports, write_report

    session = config.stash.get(_SESSION, None)
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker is not None:
        if session is not None:
            write_json_atomic(Path(report_dir) / _PARTS / f"{worker}.json", session.results())
        return
    parts_dir = Path(report_dir) / _PARTS
    parts = [json.loads(p.read_text()) for p in sorted(parts_dir.glob("*.json"))]
    if session is not None:
        parts.append(session.results())
    for part in parts_dir.glob("*.json"):
        part.unlink()
    if parts:
        write_report(merge_reports(parts), Path(report_dir))

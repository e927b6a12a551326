"""The gate's pytest options: names, parsers, defaults and validation into ``GateOptions``.

Every option is namespaced (``--parity-...``). The short spellings the seed's users know,
``--checkpoint`` and ``--config``, are added as aliases only after the initial conftests
have registered their own options, and only when no one else took them: a clash never
stops pytest. Every option defaults to ``None`` here, so "the user named a gate option"
is simply "an option is not None" (``gate_requested``).
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from signbart_parity.checks import corpus
from signbart_parity.errors import (
    ConfigError,
    ConversionError,
    DataError,
    OutputPathError,
    TFLiteFileError,
)
from signbart_parity.inputs.samples import load_sample, sample_paths
from signbart_parity.model.config import load_config
from signbart_parity.model.default import resolve_model_paths
from signbart_parity.options import OPTIONS, gate_help, gate_options
from signbart_parity.outputs import output_folder
from signbart_parity.runtime.provision.venvs import default_cache_root
from signbart_parity.runtime.run.tflite import TFLiteModel
from signbart_parity.runtime_specs import app_builds_not_checked
from signbart_parity.shards import plan
from signbart_parity.targets import Target

GROUP = "signbart-parity"
# (alias, the dest it shares): kept for the seed's users where no other plugin took it.
ALIASES = (("--checkpoint", "parity_checkpoint"), ("--config", "parity_config"))
DESTS = tuple(option.gate_dest for option in gate_options())


# ---------------------------------------------------------------- registration


def add_options(parser: pytest.Parser) -> None:
    """Every gate option of the one option table, as ``--parity-NAME`` (default None)."""
    group = parser.getgroup(GROUP, "SignBart PyTorch vs TFLite parity gate")
    for option in gate_options():
        settings = {"type": option.type, "metavar": option.metavar, **option.extra}
        if settings.get("action") == "store_true":
            del settings["type"], settings["metavar"]
        group.addoption(
            f"--parity-{option.name}",
            dest=option.gate_dest,
            default=None,
            help=gate_help(option),
            **{key: value for key, value in settings.items() if value is not None},
        )


def add_aliases(parser: pytest.Parser) -> None:
    """Add ``--checkpoint``/``--config`` unless another plugin or conftest has them, and
    catch the previous release's un-namespaced names (``--seq-lens``...) where they are
    free, so that using one says what it became instead of "unrecognized arguments"."""
    taken = _option_names(parser)
    group = parser.getgroup(GROUP)
    for alias, dest in ALIASES:
        if alias not in taken:
            group.addoption(
                alias,
                dest=dest,
                default=None,
                type=Path,
                metavar="PATH",
                help=f"alias of --{dest.replace('_', '-')}",
            )
    for option in gate_options():
        old = f"--{option.name}"
        if old not in taken and (old, option.gate_dest) not in ALIASES:
            group.addoption(
                old, dest=_old_dest(option), nargs="*", default=None, help=argparse.SUPPRESS
            )


def _old_dest(option) -> str:
    return "parity_previous_" + option.dest


def refuse_previous_names(config: pytest.Config) -> None:
    """A UsageError (exit 4) naming the new spelling of the first old option name used."""
    for option in gate_options():
        if config.getoption(_old_dest(option), None) is not None:
            raise pytest.UsageError(
                f"--{option.name} is now --parity-{option.name} (every gate option is "
                "namespaced since 0.1); rename it on your command line or in addopts."
            )


def _option_names(parser: pytest.Parser) -> set[str]:
    """Every option name registered so far, in any group (pytest keeps no public list)."""
    groups, anonymous = getattr(parser, "_groups", None), getattr(parser, "_anonymous", None)
    if groups is None or anonymous is None:  # pytest's internals changed: add no alias
        return {alias for alias, _ in ALIASES}
    return {name for group in (*groups, anonymous) for opt in group.options for name in opt.names()}


def gate_requested(config: pytest.Config) -> bool:
    """Whether the user named any gate option (on the command line or in addopts)."""
    return any(config.getoption(dest, None) is not None for dest in DESTS)


def run_gate_only(config: pytest.Config) -> None:
    """A run that names a gate option and no test path of its own is a release gate: it
    collects the gate's tests and nothing else, whatever rootdir pytest picked (decided from
    what pytest parsed, so ``--checkpoint PATH`` with a space counts as an option value).
    Test paths given explicitly (``pytest tests/``, ``--pyargs ...``) are honoured."""
    if gate_requested(config) and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(Path(__file__).parent)]


def rootdir_note(config: pytest.Config) -> str | None:
    """One header line when pytest rooted the run somewhere other than where it was started
    (it picks its rootdir from the first path-like arguments, before it knows the gate's
    options): the gate does not need it, but that folder's ini and conftests were used."""
    rootpath, started = config.rootpath, config.invocation_params.dir
    if not gate_requested(config) or _rooted_where_started(config):
        return None
    return (
        f"signbart-parity: pytest chose rootdir {rootpath} (from a path on the command line), "
        f"not {started}; the gate runs as usual; add --rootdir=. to root the run here."
    )


def rooted_above_without_ini(config: pytest.Config) -> bool:
    """pytest rooted the run at an ancestor of the folder it started in that it reached only
    as the common folder of path arguments (no ini file): a folder that is not the user's."""
    rootpath, started = config.rootpath, config.invocation_params.dir
    return config.inipath is None and rootpath != started and started.is_relative_to(rootpath)


def _rooted_where_started(config: pytest.Config) -> bool:
    """Whether pytest rooted the run where it was started, or above it at the ini file that
    folder uses. An ancestor it only reached as the common folder of path arguments (no ini
    file there: ``/tmp`` for a checkout under ``/tmp`` with paths under ``/tmp``) is not."""
    rootpath, started = config.rootpath, config.invocation_params.dir
    if rootpath == started:
        return True
    inipath = config.inipath
    return inipath is not None and started.is_relative_to(inipath.parent)


# ---------------------------------------------------------------- validated options


@dataclass(frozen=True)
class GateOptions:
    config: Path
    checkpoint: Path
    seq_lens: tuple[int, ...]
    quantizations: tuple[str, ...]
    runtimes: tuple[str, ...]
    cache_dir: Path
    # Real samples the real-sample check runs on; empty when none fits the model.
    samples: tuple[Path, ...]
    samples_given: bool = False
    # Why the real-sample check cannot run (the bundled sample does not fit); None if it can.
    samples_skip_reason: str | None = None
    baseline: Path | None = None
    baseline_seq_len: int | None = None  # None for a multi-signature baseline
    max_flip_rate: float = 0.0
    bundle: bool = False  # one multi-signature export instead of a file per seq_len
    corpus_dir: Path | None = None  # the counterexample corpus (--parity-corpus)
    shard: tuple[int, int] | None = None  # (K, N): this job runs shard K of N
    # Examples outside the app contract decide the verdict (--parity-judge-outside-contract).
    judge_outside: bool = False
    repair_dir: Path | None = None  # --parity-repair: where repaired files go
    budget: float = OPTIONS["budget"].default  # seconds each repair may spend

    def shard_targets(self) -> list[Target]:
        """The targets this job runs: its shard's (``shards.plan``), or all of them."""
        if self.shard is None:
            return self.targets

        return plan(self.targets, self.shard[1], bundle=self.bundle)[self.shard[0] - 1]

    @property
    def targets(self) -> list[Target]:
        return [
            Target(seq_len, quantization, runtime)
            for seq_len, quantization, runtime in itertools.product(
                self.seq_lens, self.quantizations, self.runtimes
            )
        ]

    def bucket_pairs(self) -> list[tuple[Target, Target]]:
        """(short, long) pairs of exported lengths, per precision and runtime."""
        return [
            (Target(short, quantization, runtime), Target(long, quantization, runtime))
            for short, long in itertools.combinations(self.seq_lens, 2)
            for quantization, runtime in itertools.product(self.quantizations, self.runtimes)
        ]

    def pinned_targets(self) -> list[Target]:
        """Targets run by a pinned runtime build (out of process)."""
        return [t for t in self.targets if not t.spec.installed]

    def baseline_targets(self) -> list[Target]:
        """The exports a shipped file is compared with: the one of its seq_len, or (bundle
        mode) the bundle, named by its longest signature."""
        if self.bundle:
            return [t for t in self.targets if t.seq_len == self.seq_lens[-1]]
        return [t for t in self.targets if t.seq_len == self.baseline_seq_len]


def resolve_options(config: pytest.Config) -> GateOptions:
    """Fill in defaults and validate every option; bad values are a ``pytest.UsageError``
    naming the option, the file and the fix. Loads no model (see ``gate_session``)."""
    option = config.getoption
    config_path, checkpoint_path = resolve_model_paths(
        option("parity_config"), option("parity_checkpoint")
    )
    try:
        model_config = load_config(config_path)
    except ConfigError as exc:
        raise pytest.UsageError(f"--parity-config: {exc}") from None
    if not checkpoint_path.is_file():
        raise pytest.UsageError(
            f"--parity-checkpoint: {checkpoint_path}: file not found; pass an existing .pth file."
        )
    seq_lens = option("parity_seq_lens") or OPTIONS["seq-lens"].default
    try:
        model_config.check_seq_lens(seq_lens)
    except ConversionError as exc:
        raise pytest.UsageError(f"--parity-seq-lens: {exc} ({config_path})") from None
    given = option("parity_samples")
    samples, skip_reason = _real_samples(given, model_config.min_input_keypoints)
    baseline = option("parity_baseline")
    # One seq_len ships as a single-signature file, bundle or not.
    bundle = bool(option("parity_bundle")) and len(seq_lens) > 1
    max_flip_rate = option("parity_max_flip_rate")
    cache_dir = option("parity_cache") or default_cache_root()  # as every other door
    corpus_dir = option("parity_corpus") or cache_dir / corpus.DEFAULT_FOLDER
    repair_dir, budget = _repair_options(config)
    _check_folders(
        cache=cache_dir, corpus=corpus_dir, report=option("parity_report"), repair=repair_dir
    )
    _check_corpus(corpus_dir, given=option("parity_corpus") is not None)
    options = GateOptions(
        config=config_path,
        checkpoint=checkpoint_path,
        seq_lens=tuple(seq_lens),
        quantizations=option("parity_quantization") or OPTIONS["quantization"].default,
        runtimes=option("parity_runtime") or OPTIONS["runtime"].default,
        cache_dir=cache_dir,
        samples=samples,
        samples_given=bool(given),
        samples_skip_reason=skip_reason,
        baseline=baseline,
        baseline_seq_len=_baseline_seq_len(baseline, bundle) if baseline is not None else None,
        max_flip_rate=OPTIONS["max-flip-rate"].default if max_flip_rate is None else max_flip_rate,
        bundle=bundle,
        corpus_dir=corpus_dir,
        judge_outside=bool(option("parity_judge_outside_contract")),
        shard=option("parity_shard"),
        repair_dir=repair_dir,
        budget=budget,
    )
    _check_shard(options)
    return options


def _repair_options(config: pytest.Config) -> tuple[Path | None, float]:
    """--parity-repair's folder and --parity-budget's seconds; a budget without a repair
    would limit nothing: a usage error."""
    folder, budget = config.getoption("parity_repair"), config.getoption("parity_budget")
    if budget is not None and folder is None:
        raise pytest.UsageError(
            f"--parity-budget {budget:g} limits --parity-repair's search: add "
            "--parity-repair DIR, or drop --parity-budget."
        )
    return folder, OPTIONS["budget"].default if budget is None else budget


def _check_shard(options: GateOptions) -> None:
    """More shards than targets would leave a job with nothing to check: a usage error."""
    if options.shard is None or options.shard[1] <= len(options.targets):
        return
    number, total = options.shard
    raise pytest.UsageError(
        f"--parity-shard {number}/{total}: the gate has {len(options.targets)} target(s) "
        f"({len(options.seq_lens)} seq_len(s) x {len(options.quantizations)} precision(s) x "
        f"{len(options.runtimes)} runtime(s)); split it into at most {len(options.targets)} "
        "shards."
    )


def _check_folders(**folders: Path | None) -> None:
    """The folders the gate writes, checked before any test runs: a usage error (exit 4)
    naming the option, not failed tests or an INTERNALERROR after the conversions."""
    for name, folder in folders.items():
        if folder is None:
            continue
        try:
            output_folder(folder)
        except OutputPathError as exc:
            raise pytest.UsageError(f"--parity-{name}: {exc}") from None


def _check_corpus(folder: Path, *, given: bool) -> None:
    """Every ``.npz`` in the corpus must be a counterexample the run can read: one it cannot
    would go unreplayed, so it stops the gate before any test runs (exit 4), naming it."""
    if not folder.is_dir():
        return
    unreadable = corpus.load_corpus(folder)[1]
    if unreadable:
        option = "--parity-corpus" if given else "the counterexample corpus"
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        raise pytest.UsageError(
            f"{option}: {unreadable[0]}{more}; move it out of {folder} or delete it, "
            "then run the gate again"
        )


def bundled_sample() -> Path:
    from importlib import resources

    return Path(str(resources.files("signbart_parity") / "data" / "mlr511_user12_G10_R10.pkl"))


def _real_samples(given, min_keypoints: int) -> tuple[tuple[Path, ...], str | None]:
    """The samples the real-sample check runs on, or why it cannot run.

    A sample the user passed that cannot be read or does not fit is a usage error; the
    bundled sample (90 keypoints) is used only when it fits, otherwise the check is skipped.
    """
    try:
        paths = sample_paths(given) if given else [bundled_sample()]
        found = {path: load_sample(path).keypoints.shape[1] for path in paths}
    except DataError as exc:
        raise pytest.UsageError(f"--parity-samples: {exc}") from None
    too_few = {path: count for path, count in found.items() if count < min_keypoints}
    if too_few and given:
        path, count = next(iter(too_few.items()))
        raise pytest.UsageError(
            f"--parity-samples: {path} has {count} keypoints per frame but the model needs "
            f"{min_keypoints} (max(joint_idx) + 1); pass samples of this model's layout."
        )
    if too_few:
        count = next(iter(too_few.values()))
        return (), (
            f"real samples: not checked: the bundled sample has {count} keypoints per frame "
            f"but this model needs {min_keypoints}; pass --parity-samples with samples of "
            "this model's layout"
        )
    return tuple(paths), None


def _baseline_seq_len(path: Path, bundle: bool) -> int | None:
    """The shipped file's seq_len (None for a multi-signature file, gated as a bundle)."""
    try:
        names = TFLiteModel.names_in(path)
        if len(names) > 1:
            if not bundle:
                raise pytest.UsageError(
                    f"--parity-baseline: {path} holds {len(names)} signatures "
                    f"({', '.join(names)}); gate the bundle with --parity-bundle."
                )
            return None
        return TFLiteModel(path).seq_len
    except TFLiteFileError as exc:
        raise pytest.UsageError(f"--parity-baseline: {exc}") from None


# ---------------------------------------------------------------- parametrisation


def parametrize(metafunc: pytest.Metafunc, options: GateOptions) -> None:
    """Parametrise the gate's tests over the exported targets (and pairs, and baseline)."""
    # Emulated runtimes (@arm64) take about a second a call: their drawn-example properties
    # are left to the fixed batches (agreement, real samples), and the report says so.
    drawn = getattr(metafunc.function, "_signbart_parity_profiled", False)
    if "parity_target" in metafunc.fixturenames:
        targets = [_emulated_skip(t) if drawn else t for t in options.targets]
        metafunc.parametrize("parity_target", targets, ids=_target_id, scope="session")
    if "parity_bucket" in metafunc.fixturenames:
        pairs = [_emulated_skip(pair, pair[1]) for pair in options.bucket_pairs()]
        pairs = pairs or [_skipped("needs two --parity-seq-lens to compare", "one seq_len")]
        metafunc.parametrize("parity_bucket", pairs, ids=_pair_id, scope="session")
    if "parity_pinned_target" in metafunc.fixturenames:
        reason = app_builds_not_checked(options.runtimes)
        pinned = [_skipped(reason, "no pinned build")] if reason else options.pinned_targets()
        metafunc.parametrize("parity_pinned_target", pinned, ids=_baseline_id, scope="session")
    if "parity_baseline_target" in metafunc.fixturenames:
        if options.baseline is None:
            matching = [_skipped("no --parity-baseline given", "no baseline given")]
        else:
            # None (no export at the shipped seq_len) makes the test fail and say so.
            matching = options.baseline_targets() or [None]
        metafunc.parametrize("parity_baseline_target", matching, ids=_baseline_id, scope="session")


def uses_gate_parameters(metafunc: pytest.Metafunc) -> bool:
    wanted = {"parity_target", "parity_bucket", "parity_baseline_target", "parity_pinned_target"}
    return bool(wanted & set(metafunc.fixturenames))


def _skipped(reason: str, test_id: str):
    """A skipped parameter whose test id says why (``[no baseline given]``)."""
    return pytest.param(None, marks=pytest.mark.skip(reason=reason), id=test_id)


EMULATED_REASON = (
    "emulated runtime: drawn examples are not run (about a second a call); the fixed batch "
    "of the agreement check ({count} examples, every keypoint x mask kind) and the real "
    "samples check this target"
)


def _emulated_skip(value, target=None):
    """``value`` as a parameter, skipped when its target runs on an emulated CPU."""
    target = target if target is not None else value
    if target.spec.arch is None:
        return value
    reason = EMULATED_REASON.format(count=OPTIONS["examples"].default)
    return pytest.param(value, marks=pytest.mark.skip(reason=reason), id=_target_id(value))


def _target_id(value) -> str:
    return _pair_id(value) if isinstance(value, tuple) else str(value)


def _baseline_id(target) -> str:
    return "shipped seq_len not exported" if target is None else str(target)


def _pair_id(pair) -> str:
    return "no pair" if pair is None else f"{pair[0].seq_len} in {pair[1]}"


def item_target(item: pytest.Item) -> Target | None:
    """The target a collected gate test is about (a bucket pair's longer one; None for
    the skipped placeholders that have none)."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    if isinstance(params.get("parity_target"), Target):
        return params["parity_target"]
    bucket = params.get("parity_bucket")
    if isinstance(bucket, tuple):
        return bucket[1]  # the bucket test records on the longer file
    for name in ("parity_baseline_target", "parity_pinned_target"):
        if isinstance(params.get(name), Target):
            return params[name]
    return None

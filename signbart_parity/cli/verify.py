"""``signbart-parity verify``: does this .tflite file compute what this checkpoint computes?

The checks are the check table's (``checks/table.py``, run by ``checks/verify.py``); this
module reads the file's signatures, runs them, prints one line per check per signature (and
apart, the numbers outside the app contract), localises failures (the stage, then the
operator: ``OpLocaliser``), writes the report (built in ``reports/checks.py``) and, with
``--repro``, the failing op's bundle.

Exit codes: 0 parity holds, 1 violated, 2 bad input.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from signbart_parity.checks.baseline import compare_files
from signbart_parity.checks.properties import contract_problems
from signbart_parity.checks.provenance import judge_provenance
from signbart_parity.checks.repro import repro_folder, write_repro
from signbart_parity.checks.tolerances import tolerance_for
from signbart_parity.checks.verify import (
    Check,
    SignatureCheck,
    divergence_text,
    op_localisation,
    real_inputs,
    verify_files,
)
from signbart_parity.cli import common
from signbart_parity.errors import Finding, TFLiteFileError
from signbart_parity.export.exporter import Exporter
from signbart_parity.inputs.samples import sample_paths
from signbart_parity.model.checkpoint import load_model
from signbart_parity.model.default import resolve_model_paths
from signbart_parity.model.fingerprint import weights_fingerprint
from signbart_parity.options import add_to_cli
from signbart_parity.outputs import output_file, output_folder
from signbart_parity.reports.checks import verify_report
from signbart_parity.reports.model import VERSUS_PYTORCH
from signbart_parity.reports.repair import (
    RepairPlan,
    fix_entries,
    fix_line,
    output_name,
    repair_failing,
)
from signbart_parity.reports.row import tally_of
from signbart_parity.reports.text import (
    compatibility_findings,
    describe_build,
    gpu_lines,
    not_checked_lines,
    outside_heading,
    outside_line,
)
from signbart_parity.reports.write import REPORT_FILES, write_report
from signbart_parity.runtime.gpu import gpu_hazards
from signbart_parity.runtime.provision.venvs import default_cache_root
from signbart_parity.runtime.read.precision import judged_precision
from signbart_parity.runtime.run.tflite import TFLiteModel
from signbart_parity.targets import precision_label

if TYPE_CHECKING:
    from signbart_parity.checks.provenance import ProvenanceFinding
    from signbart_parity.model.config import SignBartConfig


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "verify", help="check a .tflite file against a checkpoint (exit 0 holds, 1 violated)"
    )
    common.add_model_options(parser)
    parser.add_argument(
        "--tflite",
        type=Path,
        required=True,
        metavar="TFLITE",
        help="the file to verify; seq_len and signatures are read from it",
    )
    common.add_file_precision_option(parser)
    add_to_cli(parser, "examples")
    add_to_cli(parser, "seed")
    common.add_samples_option(parser, "real .pkl samples or folders of them")
    add_to_cli(parser, "report", default=None)
    add_to_cli(parser, "baseline", metavar="OLD_TFLITE")
    add_to_cli(parser, "max-flip-rate")
    add_to_cli(parser, "runtime")  # several: the file in each build, one matrix
    add_to_cli(parser, "repro")
    add_to_cli(parser, "repair")
    add_to_cli(parser, "budget")
    add_to_cli(parser, "judge-outside-contract")
    common.add_output_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return verify_command(args, progress=common.progress)


def _report_folder(args: argparse.Namespace) -> Path:
    """``--report``, refused before any check runs if its files cannot be written."""
    inputs = (args.tflite, args.baseline, args.config, args.checkpoint)
    return output_folder(args.report, inputs=inputs, files=REPORT_FILES)


def verify_command(args: argparse.Namespace, *, progress) -> int:
    started = time.perf_counter()
    first_runtime = args.runtime[0]
    if args.report is not None:
        args.report = _report_folder(args)
    if args.repro is not None:
        inputs = (args.tflite, args.baseline, args.config, args.checkpoint, args.report)
        args.repro = repro_folder(args.repro, inputs=inputs)
    # Cheap input checks first, so a bad path fails before PyTorch loads; in the runtime
    # installed here, so that a pinned build crashing on the file is a finding, not bad input.
    names = TFLiteModel.names_in(args.tflite)
    quantization, precision_line = judged_precision(args.tflite, args.quantization)
    files = [TFLiteModel(args.tflite, signature=name) for name in names]
    if args.repair is not None:
        args.repair = _repair_folder(args, files, quantization)
    baseline = None
    if args.baseline is not None:
        baseline = [
            TFLiteModel(args.baseline, runtime=first_runtime, signature=name)
            for name in TFLiteModel.names_in(args.baseline)
        ]
    samples = sample_paths(args.samples)
    config_path, checkpoint_path = resolve_model_paths(args.config, args.checkpoint)
    loaded = load_model(config_path, checkpoint_path)
    model, config = loaded.model, loaded.config
    for tflite in files:
        _check_fits(tflite, config, config_path, args.tflite)
    provenance = _provenance(args.tflite, model, config_path, checkpoint_path)

    shown = ", ".join(names)
    progress(
        f"checking {args.tflite} ({len(files)} signature{'s' * (len(files) > 1)}: {shown}; "
        f"{precision_label(quantization)}) on {args.examples} generated examples per signature"
        + (f" and {len(samples)} real samples" if samples else "")
        + (f", in {len(args.runtime)} runtimes" if len(args.runtime) > 1 else "")
    )
    bundle = len(files) > 1
    print("\n".join(provenance.lines()))  # up front: a stale file needs re-exporting
    print(precision_line)
    for hazard in _gpu_hazards(args.tflite):
        print(f"  GPU hazard: {hazard}")
    print(
        f"  against {checkpoint_path} ({loaded.layout}) with {config_path}; tolerance "
        f"[{tolerance_for(quantization, first_runtime).describe()}]"
    )
    results, crashes = [], []
    ops = OpLocaliser(model, args.repro, progress)
    for number, runtime in enumerate(args.runtime, 1):
        progress(_runtime_step(runtime, number, len(args.runtime)))
        runtime_started = time.perf_counter()
        try:
            found = _verify_in(runtime, files, names, model, quantization, samples, args)
        except Finding as exc:  # about the file on this build, not bad input
            label = _finding_label(exc)
            print(f"verify {args.tflite} ({runtime} runtime): {label}: {exc}")
            crashes.append((runtime, files[0].seq_len, str(exc)))
            continue
        results += found
        progress(f"{runtime}: done in {time.perf_counter() - runtime_started:.1f} s")
        _print_runtime(args.tflite, runtime, found, model, quantization, ops)

    baseline_result = None
    if baseline is not None:
        real = real_inputs(samples, files[0], config) if samples and not bundle else None
        candidate = [r.tflite for r in results if r.tflite.runtime == first_runtime] or files
        baseline_result = compare_files(
            baseline, candidate, real=real, max_flip_rate=args.max_flip_rate
        )
        print("\n".join(baseline_result.lines(Path(args.baseline))))
        if not baseline_result.passed:
            print("BASELINE CHECK FAILED")

    plan = None if provenance.stale else _repair_plan(args, config_path, checkpoint_path, files)
    report = verify_report(
        results=results,
        quantization=quantization,
        config_path=config_path,
        checkpoint_path=checkpoint_path,
        checkpoint_layout=loaded.layout,
        config=config,
        baseline=(Path(args.baseline), baseline_result) if baseline_result else None,
        duration=time.perf_counter() - started,
        runtimes=args.runtime,
        crashes=crashes,
        path=Path(args.tflite),
        provenance=provenance,
        repair=plan,
    )
    if args.repro is not None and ops.bundle_written is None:
        print(f"repro bundle: not written to {args.repro} (no operator departs)")
    if provenance.stale:
        print(f"STALE: re-export {args.tflite} (the checks above ran on other weights)")
    for line in compatibility_findings(report) + not_checked_lines(report) + gpu_lines(report):
        print(line)
    if plan is not None and args.repair is not None:
        _repair(report, plan, model, args, progress)
    commands = {row.repair["command"] for row in report.rows if row.repair}
    if args.repair is not None and not commands:
        why = "no failing dynamic-int8 or weight-only-int8 target"
        if provenance.stale:
            why = "the checks ran on other weights (STALE)"
        print(f"repair: nothing searched, nothing written to {args.repair}: {why}")
    for command in sorted(commands):  # one: every failing row of the file has the same
        print(fix_line(command, quantization))
    if args.report is not None:
        paths = write_report(report, args.report)
        print(f"report: {paths['parity.html']}")
    return 0 if report.passed else 1


def _repair_plan(args, config_path: Path, checkpoint_path: Path, files) -> RepairPlan:
    """What a fix names: the runtimes verify ran, the file's lengths, and a repaired file
    in --repair's folder, else next to the verified one."""
    lengths = _lengths(files)
    if args.repair is not None:
        output = args.repair
    else:
        output = Path(args.tflite).with_name(Path(args.tflite).stem + "-repaired.tflite")
    return RepairPlan(
        config=config_path,
        checkpoint=checkpoint_path,
        runtimes=tuple(args.runtime),
        judge_outside=args.judge_outside_contract,
        file=output,
        seq_lens=lengths,
    )


def _lengths(files) -> tuple[int, ...]:
    return tuple(sorted({tflite.seq_len for tflite in files}))


def _repair_folder(args, files, quantization: str) -> Path:
    """The file --repair DIR would get, refused before any check if it cannot be written
    or is one of the inputs."""
    inputs = (args.tflite, args.baseline, args.config, args.checkpoint)
    folder = output_folder(args.repair, inputs=inputs)
    return output_file(folder / output_name(_lengths(files), quantization), inputs=inputs)


def _repair(report, plan: RepairPlan, model, args, progress) -> None:
    """--repair: repair's search for the failing file over verify's runtimes (as the gate's
    --parity-repair), what it found printed and in the report; the verdict is unchanged."""
    from signbart_parity.export.cache import ExportCache  # filelock

    exporter = Exporter(model, cache=ExportCache(default_cache_root()), progress=progress)
    repair_failing(
        report,
        plan,
        model,
        exporter=exporter,
        budget=args.budget,
        examples=args.examples,
        seed=args.seed,
        progress=progress,
    )
    for fix in fix_entries(report):
        if fix.table:
            print("\n".join(fix.table))
        print(f"{fix.target}: {fix.sentence}")


def _gpu_hazards(path) -> list[str]:
    """What the file's graph holds that is known to break LiteRT's GPU (read, not run)."""
    return gpu_hazards(path)


def _finding_label(exc: Finding) -> str:
    """verify's cell for a runtime build that could not run the file."""
    return exc.label


def _runtime_step(runtime: str, number: int, count: int) -> str:
    """The progress line before one runtime's checks (an emulated one takes minutes)."""
    slow = " (emulated aarch64: about a minute or more)" if "@arm64" in runtime else ""
    return f"runtime {number}/{count}: {runtime}{slow}"


def _provenance(path: Path, model, config_path: Path, checkpoint_path: Path) -> ProvenanceFinding:
    """The file's stamp against the checkpoint under test (STALE: other weights)."""
    return judge_provenance(
        path,
        weights_fingerprint(model),
        against=f"the checkpoint under test {checkpoint_path}",
        config=config_path,
        checkpoint=checkpoint_path,
    )


def _print_runtime(
    path, runtime: str, found: list[SignatureCheck], model, quantization, ops: OpLocaliser
) -> None:
    """What one runtime build found: the file, the build, a line per check, localisation."""
    bundle = len(found) > 1
    first = found[0].tflite
    names = ", ".join(each.where for each in found)
    what = f"{len(found)} signatures ({names})" if bundle else f"seq_len {first.seq_len}"
    print(
        f"verify {path} ({runtime} runtime): {what}, {precision_label(quantization)}"
        + ("" if bundle else f", {first.signature.describe()}")
    )
    if not first.spec.installed or first.spec.gpu:
        print(f"  runtime build: {describe_build(first.runtime_build)}")
    for each in found:
        _print_signature(each, bundle=bundle)
    failing = [each for each in found if not each.passed]
    for each in failing:
        _localise_failure(model, each, quantization, bundle=bundle)
        ops.localise(each, quantization)
    if not failing:
        print("parity holds")


def _verify_in(runtime, first_files, names, model, quantization, samples, args):
    """Every signature of the file in one runtime build, with the bundle checks."""
    files = first_files
    if runtime != first_files[0].runtime:
        files = [TFLiteModel(args.tflite, runtime=runtime, signature=name) for name in names]
    return verify_files(
        files,
        model,
        quantization=quantization,
        examples=args.examples,
        seed=args.seed,
        samples=samples,
        oracle=quantization == "none" and args.report is not None,
        judge_outside=args.judge_outside_contract,
    )


def _check_fits(tflite: TFLiteModel, config: SignBartConfig, config_path: Path, path) -> None:
    problems = contract_problems(tflite.signature, config, batch_size=tflite.batch_size)
    if problems:
        where = f" (signature {tflite.signature.name})" if tflite.signature.name else ""
        raise TFLiteFileError(
            f"{path}{where}: the file does not fit {config_path} ({'; '.join(problems)}); "
            "verify it against the config and checkpoint it was exported from."
        )


def _check_line(check: Check) -> str:
    c = check.comparison
    verdict = "PASS" if c.passed else "FAIL"
    top1 = f", top-1 {c.top1_agreement:.1%}" if check.name in VERSUS_PYTORCH else ""
    failing = f", {c.failing_examples} failing" if c.failing_examples else ""
    scale = f"; logit scale {c.logit_scale:.3g}" if c.logit_scale is not None else ""
    return (
        f"  {check.name:<19} {verdict}  {c.examples:>4} examples, max abs err "
        f"{c.max_abs_err:.3g} ({c.bound_ratio:.3g}x bound{scale}){top1}{failing}"
    )


def _print_signature(found: SignatureCheck, *, bundle: bool) -> None:
    if bundle:
        print(f"signature {found.where}: {found.tflite.signature.describe()}")
    for warning in found.tflite.signature.warnings():
        print(f"  warning: {warning}")
    for check in found.checks:
        print(_check_line(check))
    outside = [check for check in found.checks if check.outside is not None]
    if outside:
        print(f"  {outside_heading()} (--judge-outside-contract judges them):")
    for check in outside:
        print(f"    {outside_line(check.name, tally_of(check.outside))}")


def _localise_failure(model, found: SignatureCheck, quantization: str, *, bundle: bool) -> None:
    failing = ", ".join(check.name for check in found.checks if not check.passed)
    where = f" in signature {found.where}" if bundle else ""
    print(f"PARITY VIOLATED{where}: failing properties: {failing}")
    for check in found.checks:
        for problem in check.comparison.problems:
            if "non-finite" in problem:
                print(f"NON-FINITE LOGITS{where} ({check.name}): {problem}")
    found.divergence = divergence_text(model, found.tflite, found.checks, quantization)
    print(found.divergence)


class OpLocaliser:
    """Op-level localisation of failing signatures (``checks/ops.py``), printed after the
    stage line, and the repro bundle of the first one when ``--repro`` names a folder.

    A diagnosis: it never raises, so it never hides the verdict it explains."""

    def __init__(self, model, repro: Path | None, progress) -> None:
        self.model, self.repro, self.progress = model, repro, progress
        self.bundle_written: Path | None = None
        self._references: dict[int, Path] = {}

    def fp32_reference(self, seq_len: int) -> Path:
        """The checkpoint's fp32 export at ``seq_len``, cached across runs where pinned
        builds are ($SIGNBART_PARITY_CACHE, else the per-user cache dir)."""
        if seq_len not in self._references:
            from signbart_parity.export.cache import ExportCache

            what = f"the checkpoint's fp32 file at seq_len {seq_len}"
            self.progress(f"exporting {what} as the op-level reference")
            cache = ExportCache(default_cache_root())  # $SIGNBART_PARITY_CACHE, as builds
            exported = Exporter(self.model, cache=cache).export(seq_len, "none")
            self._references[seq_len] = exported.path
        return self._references[seq_len]

    def localise(self, found: SignatureCheck, quantization: str) -> None:
        tflite = found.tflite
        self.progress(f"{tflite.runtime}: localising the first failing operator")
        try:
            table = op_localisation(
                tflite,
                found.checks,
                quantization,
                lambda: self.fp32_reference(tflite.seq_len),
            )
        except Exception as exc:  # a diagnosis never hides the verdict
            print(f"op-level localisation failed ({type(exc).__name__}: {exc})")
            return
        if table is None:
            return
        found.op_table = table
        for line in table.lines():
            print(line)
        if self.repro is not None and self.bundle_written is None and table.first is not None:
            try:
                self.bundle_written = write_repro(table, self.repro)
            except OSError as exc:
                print(f"repro bundle: not written ({exc})")
                return
            print(f"repro bundle: {self.bundle_written} (see its README.txt)")

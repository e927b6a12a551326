"""The layout is the architecture: each stage imports only the stages below it, and the two
front doors (gate, cli) share one option table and one check suite."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "signbart_parity"
# Lowest first. The top-level modules (targets, errors, fileio, options...) are the core
# every stage may use; ``__init__`` and ``strategies`` are public facades over the stages.
STAGES = ("inputs", "model", "runtime", "export", "checks", "reports")
FRONT_DOORS = ("gate", "cli")
FACADES = {"__init__.py", "strategies.py"}


def _placed_imports(path: Path) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement of a module but those only for type checkers (they create no
    dependency), each with whether it is function-local: it runs when the function is
    called, not when the module is imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and getattr(branch.test, "id", "") == "TYPE_CHECKING"
        for inner in branch.body
        for node in ast.walk(inner)
    }
    local = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
    }
    return [
        (node, id(node) in local)
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped
    ]


def _runtime_import_nodes(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, function-local ones included, but those only for
    type checkers."""
    return [node for node, _ in _placed_imports(path)]


def _runtime_imports(path: Path) -> set[str]:
    """The project packages a module imports at run time, function-local imports included
    (imports only for type checkers are left out: they create no dependency)."""
    found = set()
    for node in _runtime_import_nodes(path):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "signbart_parity" and len(parts) > 1:
                found.add(parts[1])
    return found


def _layer(package: str) -> int:
    if package in STAGES:
        return STAGES.index(package) + 1
    if package in FRONT_DOORS:
        return len(STAGES) + 1
    return 0  # a top-level core module


def _module_package(path: Path) -> str | None:
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else None


def _violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        package = _module_package(path)
        if package is None and path.name in FACADES:
            continue
        own = _layer(package) if package else 0
        for imported in sorted(_runtime_imports(path) - {package}):
            imported_layer = _layer(imported)
            if package in FRONT_DOORS and imported in FRONT_DOORS:
                found.append(f"{path.relative_to(PACKAGE)} imports the other front door {imported}")
            elif imported_layer > own and not (package in FRONT_DOORS and imported_layer <= own):
                found.append(f"{path.relative_to(PACKAGE)} imports {imported}, a later stage")
    return found


def test_no_stage_imports_a_later_stage_or_a_front_door() -> None:
    assert _violations() == []


def test_the_layering_check_sees_function_local_imports(tmp_path) -> None:
    """The check must fail where a stage reaches up, even from inside a function."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from signbart_parity.gate import plugin\n")
    assert _runtime_imports(module) == {"gate"}
    guarded = tmp_path / "guarded.py"
    guarded.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from signbart_parity.cli import main\n"
    )
    assert _runtime_imports(guarded) == set()


def test_every_stage_and_core_module_is_classified() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(STAGES) | set(FRONT_DOORS) | {"data"}


# ---------------------------------------------------------------- one option table


def test_both_front_doors_take_their_shared_options_from_the_one_table() -> None:
    import argparse

    from signbart_parity.cli.main import build_parser
    from signbart_parity.gate.options import DESTS
    from signbart_parity.gate.profiles import PROFILES
    from signbart_parity.options import OPTIONS, gate_options

    assert set(DESTS) == {option.gate_dest for option in gate_options()}
    assert OPTIONS["profile"].extra["choices"] == tuple(PROFILES)
    verify = next(
        action.choices["verify"]
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    defaults = {action.dest: action.default for action in verify._actions}
    assert defaults["examples"] == OPTIONS["examples"].default
    assert defaults["max_flip_rate"] == OPTIONS["max-flip-rate"].default
    helps = {action.dest: action.help for action in verify._actions}
    assert helps["baseline"].startswith(OPTIONS["baseline"].help)


@pytest.mark.slow
def test_a_toolchain_failure_on_a_valid_model_is_not_called_bad_input(tmp_path) -> None:
    """A model litert-torch cannot lower (a real conversion, no mock): ToolchainError,
    naming the converter's message and the versions; not a ParityInputError (exit 2)."""
    import torch

    from signbart_parity.errors import ParityInputError, ToolchainError
    from signbart_parity.export.fp32 import export_fp32
    from signbart_parity.model.default import load_model_or_default

    model, _ = load_model_or_default(None, None)

    class Unlowerable(type(model)):
        def forward(self, keypoints, attention_mask):
            loss, logits = super().forward(keypoints, attention_mask)
            # Data-dependent output shape: no static graph for the converter.
            return loss, logits[torch.nonzero(logits > 0, as_tuple=True)]

    broken = Unlowerable(model.config)
    broken.load_state_dict(model.state_dict())
    output = tmp_path / "out.tflite"
    with pytest.raises(ToolchainError) as raised:
        export_fp32(broken.eval(), seq_len=8, output=output)
    assert not isinstance(raised.value, ParityInputError)
    message = str(raised.value)
    assert "litert-torch could not convert the model at seq_len 8" in message
    assert "torch " in message and "litert-torch " in message and "report this upstream" in message
    assert not output.exists()


# ---------------------------------------------------------------- one check suite


IDENTITY = ("seq_len", "quantization", "runtime", "file", "signature", "size_bytes")


@pytest.mark.slow
def test_verify_and_the_gate_report_the_same_row_for_the_same_file_and_target(
    pytester, tmp_path
) -> None:
    """On a model that is not the embedded default: the gate's row and verify's row of the
    file the gate exported name the same target, file, signature and size, every check is
    one of the table's, and a check both doors run on the same fixed batch has equal values."""
    import json

    from signbart_parity.checks.table import CHECKS
    from tests.cli import run_cli
    from tests.helpers import write_model
    from tests.tflite_files import shared_gate_cache

    config, checkpoint = write_model(tmp_path)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--pyargs", "signbart_parity.gate",
        f"--parity-config={config}", f"--parity-checkpoint={checkpoint}",
        "--parity-seq-lens=16", "--parity-quantization=none",
        *shared_gate_cache(tmp_path / "corpus"), "--parity-report=report",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    (gate_row,) = json.loads((pytester.path / "report" / "parity.json").read_text())["results"]
    done = run_cli(
        "verify", "--config", config, "--checkpoint", checkpoint,
        "--tflite", gate_row["file"], "--report", tmp_path / "verify",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (verify_row,) = json.loads((tmp_path / "verify" / "parity.json").read_text())["results"]
    assert {k: verify_row[k] for k in IDENTITY} == {k: gate_row[k] for k in IDENTITY}
    shared = set(gate_row["checks"]) & set(verify_row["checks"])
    assert {"parity", "agreement", "padding", "determinism"} <= shared
    # Every check either door recorded is one entry of the check table.
    assert set(gate_row["checks"]) | set(verify_row["checks"]) <= set(CHECKS)
    for check in shared:
        assert set(verify_row["checks"][check]) == set(gate_row["checks"][check])
    # The fixed batch (same seed, same count by default): equal values, not only names,
    # for the examples in the app contract and for those outside it.
    assert verify_row["checks"]["agreement"] == gate_row["checks"]["agreement"]
    assert verify_row["outside"]["agreement"] == gate_row["outside"]["agreement"]
    assert gate_row["checks"]["agreement"]["examples"] == 60  # 72, less the 12 all-zero


WORKER_SIDE = ("runtime/worker/server.py", "runtime/worker/protocol.py", "runtime/run/backends.py")
# What a worker's environment holds besides the standard library: numpy and the runtimes.
WORKER_PACKAGES = {"numpy", "ai_edge_litert", "tflite_runtime", "tensorflow"}


def _package_names(nodes) -> set[str]:
    """The top-level names of the modules some import statements import (relative imports,
    the project's own, left out)."""
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def _all_imports(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports, function-local ones included."""
    return _package_names(ast.walk(ast.parse(path.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("module", WORKER_SIDE)
def test_worker_side_modules_import_only_the_standard_library_numpy_and_runtimes(module):
    """The worker runs where this project is not installed: a project import there (or
    any third-party one but numpy) fails only inside a pinned build."""
    import sys

    outside = _all_imports(PACKAGE / module) - set(sys.stdlib_module_names) - WORKER_PACKAGES
    assert outside == set(), f"{module} imports {sorted(outside)}"


# ---------------------------------------------------------------- errors by whose fault


def test_errors_have_one_root_split_by_whose_fault_they_are() -> None:
    from signbart_parity import errors
    from signbart_parity.cli.main import exit_for

    faults = (errors.ParityInputError, errors.SetupError, errors.ToolchainError, errors.Finding)
    for name, value in vars(errors).items():
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, errors.SignbartParityError), name
            owners = [fault for fault in faults if issubclass(value, fault)]
            assert len(owners) == (value is not errors.SignbartParityError), (name, owners)
    # A runtime build that crashes, hangs or refuses a valid file: the file fails (1) on
    # that build, never "bad input" (2); a missing environment is setup, naming the fix (2).
    crashed = errors.RuntimeCrashed("the tflite-runtime==2.14.0 runtime crashed (signal 11)")
    assert exit_for(crashed) == (1, f"signbart-parity: FAILED: {crashed}")
    assert exit_for(errors.RuntimeRefused("x"))[0] == 1
    assert exit_for(errors.RuntimeEnvironmentError("run: signbart-parity runtimes prepare"))[0] == 2
    assert exit_for(errors.TFLiteFileError("x"))[0] == 2
    assert exit_for(errors.ToolchainError("x"))[0] == 3


# ---------------------------------------------------------------- no module cycles


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_modules(root: Path) -> dict[str, Path]:
    return {_module_name(path, root): path for path in root.rglob("*.py")}


def _imported_modules(
    node: ast.Import | ast.ImportFrom, importer: str, modules: dict[str, Path]
) -> set[str]:
    """The package's modules an import statement loads: ``from pkg import mod`` loads
    ``mod``, and a relative import is resolved against the importing module's package."""

    def resolved(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        return {resolved(alias.name) for alias in node.names} - {None}
    base = node.module or ""
    if node.level:
        package = importer.split(".")
        if modules[importer].name != "__init__.py":
            package.pop()
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    subs = {f"{base}.{alias.name}" for alias in node.names} & set(modules)
    return (subs or {resolved(base)}) - {None}


def _module_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, function-local imports included (those
    only for type checkers left out): ``from pkg import mod`` counts as importing ``mod``."""
    modules = _package_modules(root)
    return {
        name: set().union(
            *(_imported_modules(node, name, modules) for node in _runtime_import_nodes(path))
        )
        - {name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, as the path that closes it (depth-first, each reported once)."""
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                cycles.append(path[path.index(imported) :] + [imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    cycles = _cycles(_module_graph(PACKAGE))
    assert cycles == [], "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_cycle_check_sees_function_local_imports(tmp_path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from pkg import a\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    assert _cycles(_module_graph(package)) == [["pkg.a", "pkg.sub.b", "pkg.a"]]


# ---------------------------------------------------------------- imports at the top

# A module of the package is heavy when importing it loads one of these, by its own
# module-level imports or through a project module (or parent package) it loads. Measured
# with `python -X importtime` and timed imports after numpy and yaml (which both doors
# load anyway) on the 2-core project machine, 2026-12-03: litert_torch 8.6 s, tensorflow
# 7.6 s, torch 2.3 s, ai_edge_quantizer 1.5-2 s, hypothesis 0.4 s; the LiteRT runtimes
# are cheap to import (ai_edge_litert about 15 ms) but are the runtimes under test, kept
# out of a process until it runs one. Also heavy, measured above 30 ms and loaded by
# neither door today: pydantic (the schemas module with it, about 200 ms; read only with a
# document), jinja2 (45-80 ms), rich (about 40 ms), filelock (35-45 ms). Light: numpy,
# yaml and pytest (each door loads them already), platformdirs (about 18 ms), flatbuffers
# (about 4 ms).
HEAVY_PACKAGES = frozenset(
    {
        "torch",
        "tensorflow",
        "litert",
        "ai_edge_litert",
        "tflite_runtime",
        "litert_torch",
        "ai_edge_torch",
        "ai_edge_quantizer",
        "hypothesis",
        "pydantic",
        "jinja2",
        "rich",
        "filelock",
    }
)


def _heavy_modules(root: Path) -> set[str]:
    """The package's modules that load a heavy package when imported."""
    modules = _package_modules(root)
    loads, heavy = {}, set()
    for name, path in modules.items():
        top = [node for node, local in _placed_imports(path) if not local]
        if _package_names(top) & HEAVY_PACKAGES:
            heavy.add(name)
        parents = {name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)}
        loads[name] = parents.union(*(_imported_modules(node, name, modules) for node in top))
    grown = True
    while grown:
        more = {name for name, loaded in loads.items() if loaded & heavy} - heavy
        heavy |= more
        grown = bool(more)
    return heavy


def _light_local_imports(root: Path) -> list[str]:
    """``path:line module`` for each function-local import of a package module that loads
    nothing heavy: such an import hides a dependency and saves no time, so it belongs at
    the top of its module."""
    modules = _package_modules(root)
    heavy = _heavy_modules(root)
    found = []
    for name, path in modules.items():
        where = path.relative_to(root.parent).as_posix()
        for node, local in _placed_imports(path):
            if local:
                light = _imported_modules(node, name, modules) - heavy - {name}
                found += [(where, node.lineno, module) for module in light]
    return [f"{where}:{line} {module}" for where, line, module in sorted(found)]


def test_project_modules_that_load_nothing_heavy_are_imported_at_the_top() -> None:
    """A function-local import of the project's own module is kept only where that module
    loads something heavy (``HEAVY_PACKAGES``) or is for type checkers only; the two doors
    (the CLI, the pytest plugin) stay quick to start because the heavy ones stay local."""
    light = _light_local_imports(PACKAGE)
    assert not light, (
        "function-local imports of modules that load nothing heavy; "
        "move each to the top of its module:\n" + "\n".join(light)
    )


def test_the_import_rule_flags_a_light_local_import_and_accepts_a_heavy_one(tmp_path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "light.py": "import json\n",
        "heavy.py": "import torch\n",
        "through.py": "from pkg import heavy\n",
        "sub/__init__.py": "import tensorflow\n",
        "sub/leaf.py": "",
        "user.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg import light as typed\n"
            "def f():\n"
            "    from pkg import light, through\n"
            "    from . import heavy\n"
            "    import pkg.sub.leaf\n"
            "    from .light import loads\n"
        ),
    }
    for name, text in files.items():
        (package / name).write_text(text)
    assert _heavy_modules(package) == {"pkg.heavy", "pkg.through", "pkg.sub", "pkg.sub.leaf"}
    assert _light_local_imports(package) == ["pkg/user.py:5 pkg.light", "pkg/user.py:8 pkg.light"]

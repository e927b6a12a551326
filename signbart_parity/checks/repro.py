"""A repro bundle for the first failing operator, ready to attach to an upstream issue.

``write_repro(table, folder)`` writes, atomically (the folder appears complete or not at
all), for ``OpTable.first`` (``checks/ops.py``):

- ``op.tflite``: that operator alone, cut out of the file (``runtime/read/graph.py``);
- ``input_00.npy``, ...: the values the reference fed it, in the operator's input order;
- ``reference_output.npy`` and ``observed_output.npy``: the reference's output and the
  failing runtime's;
- ``repro.py``: a script needing only numpy and a TFLite runtime (tflite_runtime,
  ai_edge_litert or tensorflow, the first that imports) that runs ``op.tflite`` on the
  inputs and exits 1 when its output departs from the reference beyond the bound, 0 when
  it agrees; for a GPU target (``compiled@gpu``, ``repro.json``'s ``accelerator``) it runs
  the op on LiteRT's GPU accelerator as the failing runtime did (``--cpu``: on the CPU);
- ``README.txt``: what departs, where, and the one command that reproduces it;
- ``op_table.json``: the per-op table; ``model_explorer_node_data.json``: the per-op bound
  ratios as Model Explorer node data (load it beside the original file).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from signbart_parity.checks.ops import OpRow, OpTable, error_words
from signbart_parity.errors import OutputPathError
from signbart_parity.outputs import output_folder
from signbart_parity.runtime.provision.venvs import worker_environment
from signbart_parity.runtime.read.graph import OpCutter
from signbart_parity.runtime_specs import parse_runtime_spec

REPRO_SCRIPT = """# Runs one TFLite operator on saved inputs; exit 1 when it departs.

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def interpreter_class():
    for module in ("tflite_runtime.interpreter", "ai_edge_litert.interpreter"):
        try:
            return __import__(module, fromlist=["Interpreter"]).Interpreter, module
        except ImportError:
            continue
    import tensorflow as tf

    return tf.lite.Interpreter, "tensorflow"


def run_on_cpu():
    interpreter_type, module = interpreter_class()
    interpreter = interpreter_type(model_path=str(HERE / "op.tflite"))
    runner = interpreter.get_signature_runner("op")
    feeds = {}
    for name, detail in runner.get_input_details().items():
        feeds[name] = np.load(HERE / f"{name}.npy").astype(detail["dtype"])
    return next(iter(runner(**feeds).values())), module


def run_on_gpu(accelerator):
    # LiteRT's CompiledModel, the GPU accelerator first and the CPU for what it cannot
    # take: as the failing runtime ran the op.
    import ai_edge_litert
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.environment import Environment
    from ai_edge_litert.gpu_options import GpuOptions
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import Options

    enforce_f32 = bool(accelerator.get("enforce_f32"))
    environment = Environment.create(runtime_path=str(Path(ai_edge_litert.__file__).parent))
    options = Options(
        hardware_accelerators=HardwareAccelerator.GPU | HardwareAccelerator.CPU,
        gpu_options=GpuOptions(enforce_f32=enforce_f32),
    )
    model = CompiledModel.from_file(str(HERE / "op.tflite"), environment=environment,
                                    options=options)
    order, index = model.get_signature_list()["op"], model.get_signature_index("op")
    details = model.get_input_tensor_details("op")
    inputs, outputs = model.create_input_buffers(index), model.create_output_buffers(index)
    for buffer, name in zip(inputs, order["inputs"]):
        value = np.load(HERE / f"{name}.npy").astype(details[name]["dtype"])
        buffer.write(np.ascontiguousarray(value))
    model.run_by_index(index, inputs, outputs)
    detail = model.get_output_tensor_details("op")[order["outputs"][0]]
    shape = tuple(detail["shape"])
    got = outputs[0].read(int(np.prod(shape)), np.dtype(detail["dtype"])).reshape(shape)
    precision = "fp32 enforced" if enforce_f32 else "default precision, fp16"
    return got, f"ai_edge_litert.compiled_model on the GPU accelerator ({precision})"


def main() -> int:
    facts = json.loads((HERE / "repro.json").read_text())
    accelerator = facts.get("accelerator")
    if accelerator and "--cpu" not in sys.argv[1:]:  # --cpu: the same op on the CPU
        got, module = run_on_gpu(accelerator)
    else:
        got, module = run_on_cpu()
    expected = np.load(HERE / "reference_output.npy")
    a, b = expected.astype(np.float64).ravel(), np.asarray(got, np.float64).ravel()
    err = float(np.abs(a - b).max()) if a.size == b.size else float("inf")
    bound = facts["bound"]
    print(f"{facts['op']} via {module}: max abs err {err:.4g}, bound {bound:.4g} "
          f"({err / bound if bound else float('inf'):.3g}x)")
    if err > bound:
        print("REPRODUCED: the output departs from the reference beyond the bound")
        return 1
    print("not reproduced: the output agrees with the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
"""


def repro_folder(raw: str | os.PathLike, *, inputs=()) -> Path:
    """The folder ``--repro`` names, refused now (``OutputPathError``) if it cannot be
    written, is a file, holds one of ``inputs``, or is a non-empty folder that is not a
    repro bundle (a bundle replaces the folder whole)."""
    if not os.fspath(raw).strip():
        raise OutputPathError("the --repro folder is empty: give a folder name, e.g. repro/.")
    path = output_folder(raw, inputs=inputs)
    resolved = path.resolve()
    for given in inputs:
        if given is not None and resolved in Path(given).resolve().parents:
            raise OutputPathError(
                f"{path}: holds {given}, which a repro bundle would replace; give a new folder."
            )
    if path.is_dir() and any(path.iterdir()) and not (path / "repro.json").is_file():
        raise OutputPathError(
            f"{path}: not empty and not a repro bundle (a bundle replaces its folder whole); "
            "give a new folder."
        )
    return path


def write_repro(table: OpTable, folder: str | Path) -> Path:
    """Write the repro bundle of ``table.first`` into ``folder`` (replaced whole if it
    exists); ValueError when no operator departs."""
    row = table.first
    if row is None:
        raise ValueError(f"{table.path}: no operator departs on {table.runtime}; nothing to repro")
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".partial"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o777 & ~umask)  # mkdtemp makes it 0700; a plain mkdir would not
    try:
        _fill(temp, table, row)
        _replace_folder(temp, folder)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return folder


def _fill(temp: Path, table: OpTable, row: OpRow) -> None:
    isolated = row.departs_isolated
    (temp / "op.tflite").write_bytes(OpCutter(table.path, table.signature).cut(row.index))
    inputs = table.isolated_inputs.get(row.index, [])
    for number, value in enumerate(inputs):
        np.save(temp / f"input_{number:02d}.npy", np.asarray(value))
    np.save(temp / "reference_output.npy", np.asarray(table.expected[row.index]))
    observed = (table.isolated_observed if isolated else table.cumulative_observed)[row.index]
    np.save(temp / "observed_output.npy", np.asarray(observed))
    facts = {
        "op": f"{row.type} (op {row.index} of {table.path.name})",
        "tensor": row.output,
        "stage": row.stage,
        "bound": row.bound,
        "runtime": table.runtime,
        "reference": table.reference,
        "departs_alone": isolated,
        "accelerator": _accelerator(table.runtime),
    }
    (temp / "repro.json").write_text(json.dumps(facts, indent=2) + "\n")
    (temp / "repro.py").write_text(REPRO_SCRIPT)
    (temp / "README.txt").write_text(_readme(table, row))
    (temp / "op_table.json").write_text(json.dumps(table.to_dict(), indent=2) + "\n")
    node_data = json.dumps(table.node_data(), indent=2) + "\n"
    (temp / "model_explorer_node_data.json").write_text(node_data)


def _accelerator(runtime: str) -> dict | None:
    """What repro.py needs to run the op where the failing runtime did: the accelerator's
    data (``{"name": "gpu", "enforce_f32": ...}``), or None on a CPU."""
    spec = parse_runtime_spec(runtime)
    return spec.worker_entry().get("accelerator")


def _replace_folder(new: Path, folder: Path) -> None:
    """Put ``new`` at ``folder``: a reader sees the old folder or the new one, whole."""
    if not folder.exists():
        os.replace(new, folder)
        return
    old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
    os.replace(folder, old / "previous")
    try:
        os.replace(new, folder)
    except BaseException:  # put the previous bundle back, even on Ctrl-C
        os.replace(old / "previous", folder)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def reproduce_command(runtime: str) -> str:
    """The shell command that runs ``repro.py`` on ``runtime`` from inside the bundle."""
    import shlex

    spec = parse_runtime_spec(runtime)
    if spec.installed:
        return f"{shlex.quote(sys.executable)} repro.py"

    environment = worker_environment(spec, create=False)
    prefix = " ".join(f"{key}={shlex.quote(value)}" for key, value in environment.env.items())
    command = " ".join(shlex.quote(part) for part in environment.command)
    return f"{'env ' + prefix + ' ' if prefix else ''}{command} repro.py"


def _readme(table: OpTable, row: OpRow) -> str:
    try:
        command = reproduce_command(table.runtime)
    except Exception as exc:  # an environment that is gone: say how to make it
        command = f"python repro.py   (in an environment with {table.runtime}; {exc})"
    how = (
        "It departs on its own: fed the reference's inputs, the failing runtime computes a "
        "different output."
        if row.departs_isolated
        else "It departs only cumulatively (after the graph before it ran on the failing "
        "runtime); alone, fed the reference's inputs, it agrees: op.tflite does not "
        "reproduce it, the whole file does."
    )
    lines = [
        f"First failing operator of {table.path.name}"
        + (f" (signature {table.signature})" if table.signature else ""),
        "",
        f"  operator:  {row.type} (op {row.index} of the subgraph)",
        f"  tensor:    {row.output}",
        f"  stage:     {row.stage or 'unknown'}",
        f"  runtime:   {table.runtime} (failing) against {table.reference}",
        f"  error:     {error_words(row)}; bound {row.bound:.4g} ({table.precision}, stage_rtol "
        f"{table.rtol:g} x max(1, max |reference|))",
        "",
        how,
        "",
        "Reproduce it (exit 1 and REPRODUCED when it departs; 0 when it agrees):",
        "",
        f"  cd {'<this folder>'} && {command}",
        "",
        *_runner_lines(table.runtime),
        f"  pip install {_pip_requirement(table.runtime)} && python repro.py",
        "",
        "Files: op.tflite (the operator alone; weights kept), input_NN.npy (its inputs,",
        "in order, as the reference computed them), reference_output.npy,",
        "observed_output.npy (the failing runtime's), op_table.json (every operator),",
        "model_explorer_node_data.json (per-op bound ratios, Model Explorer node data).",
        "",
    ]
    return "\n".join(lines)


def _runner_lines(runtime: str) -> list[str]:
    """Where repro.py runs the op: the failing runtime's GPU accelerator, or a CPU one."""
    if _accelerator(runtime) is not None:
        return [
            "repro.py runs the op as the failing runtime did: LiteRT's CompiledModel with the",
            "GPU accelerator (it needs numpy, ai_edge_litert and a Vulkan device);",
            "python repro.py --cpu runs the same op on the CPU to compare. In a fresh",
            "environment:",
        ]
    return [
        "repro.py needs numpy and one TFLite runtime (it tries tflite_runtime, then",
        "ai_edge_litert, then tensorflow), e.g. in a fresh environment:",
    ]


def _pip_requirement(runtime: str) -> str:
    spec = parse_runtime_spec(runtime)
    package = spec.package + (f"=={spec.version}" if spec.version else "")
    numpy = ' "numpy<2"' if spec.entry.needs_numpy1(spec.version) else " numpy"
    return package + numpy

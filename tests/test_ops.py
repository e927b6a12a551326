"""Op-level localisation (``checks/ops.py``) and the repro bundle (``checks/repro.py``), on
real converted files and real runtime builds.

The finding these tests pin: the default exporter's dynamic-int8 file is wrong in
tflite-runtime 2.14.0 because its hybrid FULLY_CONNECTED (float32 input, int8 weights with
per-channel scales) returns zeros there (bias only where the op has one), from the first
one on, the input projection of x; LiteRT computes the same op right.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from signbart_parity.checks.ops import OpRow, OpTable, localise, max_abs_err, op_stages
from signbart_parity.checks.repro import repro_folder, write_repro
from signbart_parity.errors import OutputPathError
from signbart_parity.export.flatbuffer import short_name
from signbart_parity.runtime.read.graph import OpCutter, cut_op, read_graph
from tests.cli import one_error_line, run_in_process
from tests.helpers import CHECKPOINT, CONFIG
from tests.tflite_files import MODEL_ARGS, broken, cache_root, genuine, hundred_keypoint, scratch

OLD_RUNTIME = "tflite-runtime==2.14.0"
LITERT_1 = "litert==1.4.0"


@pytest.fixture(scope="module")
def prepared():
    """The pinned builds, in the machine's shared test folder (made once for every run)."""
    from signbart_parity.runtime.provision.venvs import CACHE_VARIABLE, prepare
    from signbart_parity.runtime.worker import client as worker
    from signbart_parity.runtime_specs import parse_runtime_spec

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_VARIABLE, str(cache_root()))
        for text in (OLD_RUNTIME, LITERT_1):
            prepare(parse_runtime_spec(text))
        yield
    worker.close_workers()


def example(keypoints: int = 90, seq_len: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    points = rng.random((1, seq_len, keypoints, 2), dtype=np.float32)
    mask = np.ones((1, seq_len), np.int32)
    mask[0, seq_len - 3 :] = 0  # right-padded: padded frames never decide a finding
    return points, mask


# ---------------------------------------------------------------- the graph


def test_the_graph_names_every_op_and_its_stage():
    graph = read_graph(genuine())
    types = [op.type for op in graph.operators]
    assert types.count("FULLY_CONNECTED") == 35 and types[-1] == "FULLY_CONNECTED"
    stages = op_stages(graph)
    first_fc = types.index("FULLY_CONNECTED")
    assert stages[first_fc] == "projection_x"
    assert stages[types.index("FULLY_CONNECTED", first_fc + 1)] == "projection_y"
    assert stages[len(types) - 1] == "logits"
    seen = list(dict.fromkeys(stages.values()))
    assert seen[:2] == ["projection_x", "projection_y"] and "pooled" in seen
    assert {"encoder_layer_0", "encoder_layer_1", "decoder_layer_0", "decoder_layer_1"} <= set(seen)


def test_a_cut_op_alone_computes_what_it_computes_in_the_whole_file(tmp_path):
    from signbart_parity.checks.ops import run_one_op
    from signbart_parity.runtime.read.inspect import tensor_values

    graph = read_graph(genuine())
    points, mask = example()
    wanted = sorted({t for op in graph.operators for t in op.outputs} | set(graph.inputs))
    values = tensor_values(genuine(), points, mask, wanted)
    cutter, checked = OpCutter(genuine()), 0
    assert cut_op(genuine(), 2) == cutter.cut(2)
    for op in graph.operators[:30]:
        path = tmp_path / f"op{op.index}.tflite"
        path.write_bytes(cutter.cut(op.index))
        feeds = [values[t] for t in graph.variable_inputs(op)]
        got = run_one_op(path, "litert", feeds)
        expected = values[op.outputs[0]]
        assert got.shape == expected.shape, op
        assert max_abs_err(expected, got) <= 1e-5 * max(1.0, np.abs(expected).max()), op
        checked += 1
    assert checked == 30


def test_the_table_serialises_to_strict_json_and_model_explorer_node_data(tmp_path):
    rows = [
        OpRow(0, "ADD", "a", "projection_x", bound=0.1, cumulative_err=0.01, isolated_err=0.0),
        OpRow(1, "CAST", "b", "encoder_layer_0", bound=0.0, cumulative_err=1.0),
        OpRow(2, "MUL", "c", "", bound=0.1, cumulative_err=float("inf"), isolated_err=0.5),
    ]
    table = OpTable(tmp_path / "m.tflite", "litert", "litert on the same file", "none", 2e-5,
                    None, rows)  # fmt: skip
    data = json.loads(json.dumps(table.to_dict(), allow_nan=False))
    assert data["first_cumulative"] == 1 and data["first_isolated"] == 2
    assert data["ops"][1]["cumulative_bound_ratio"] == 1e300  # unbounded, still JSON
    assert table.lines()[0].startswith("first failing op (cumulative): CAST (op 1, tensor 'b'")
    assert table.lines()[1].startswith("first failing op (isolated): MUL (op 2")
    node_data = json.loads(json.dumps(table.node_data(), allow_nan=False))
    assert node_data["results"]["a"]["value"] == pytest.approx(0.1)
    assert node_data["results"]["c"]["value"] == 1e300
    assert [t["value"] for t in node_data["thresholds"]] == sorted(
        t["value"] for t in node_data["thresholds"]
    )


def test_a_repro_folder_that_is_not_a_bundle_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputPathError, match="not empty and not a repro bundle"):
        repro_folder(tmp_path)
    model = tmp_path / "in" / "model.tflite"
    model.parent.mkdir()
    model.write_bytes(b"x")
    with pytest.raises(OutputPathError, match="which a repro bundle would replace"):
        repro_folder(tmp_path / "in", inputs=[model])
    done = run_in_process("verify", *MODEL_ARGS, "--tflite", genuine(), "--repro", tmp_path)
    assert done.returncode == 2
    assert "not empty and not a repro bundle" in one_error_line(done)


# ---------------------------------------------------------------- seeded faults


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault, op_type, tensor",
    [
        ("layernorm-eps", "ADD", "LayerNorm_layernorm_embedding"),  # variance + eps
        ("gelu-tanh", "GELU", "EncoderLayer_0"),
        ("weight-noise", "FULLY_CONNECTED", "EncoderLayer_0/Linear_fc1"),
    ],
)
def test_a_seeded_fault_is_localised_to_the_op_it_broke(fault, op_type, tensor):
    points, mask = example()
    table = localise(broken(fault), "litert", points, mask, reference_path=genuine())
    for first in (table.first_cumulative, table.first_isolated):
        assert first is not None, table.lines()
        assert (first.type, first.stage) == (op_type, "encoder_layer_0"), table.lines()
        assert tensor in short_name(first.output.encode()).decode()
    assert table.first_cumulative.index == table.first_isolated.index
    assert table.first.isolated_ratio > 5, "well over its bound, not a rounding"
    assert all(not row.departs_cumulative for row in table.rows[: table.first.index])
    clean = localise(genuine(), "litert", points, mask, reference_path=genuine())
    assert clean.first is None and len(clean.rows) == len(table.rows)


# ---------------------------------------------------------------- tflite-runtime 2.14


@pytest.mark.slow
@pytest.mark.parametrize("model", ["default", "100-keypoint"])
def test_the_2_14_dynamic_int8_failure_is_a_hybrid_fully_connected(prepared, model):
    if model == "default":
        path, points_mask = genuine(quantization="dynamic-int8"), example()
    else:
        path, points_mask = hundred_keypoint(quantization="dynamic-int8"), example(100)
    table = localise(path, OLD_RUNTIME, *points_mask, precision="dynamic-int8")
    first = table.first
    assert first is table.first_cumulative is not None, table.lines()
    assert first.index == table.first_isolated.index
    assert (first.type, first.stage) == ("FULLY_CONNECTED", "projection_x")
    assert "Projection_projection" in first.output
    assert np.abs(table.isolated_observed[first.index]).max() == 0.0, "2.14 returns zeros"
    graph = read_graph(path)
    weights = graph.operators[first.index].inputs[1]
    activations = graph.operators[first.index].inputs[0]
    assert graph.dtypes[weights] == "int8" and graph.dtypes[activations] == "float32"
    hybrid = [row for row in table.rows if row.type == "FULLY_CONNECTED"]
    assert all(row.departs_isolated for row in hybrid), "every hybrid FULLY_CONNECTED"
    assert not any(row.departs_isolated for row in table.rows if row.type != "FULLY_CONNECTED")
    assert localise(path, LITERT_1, *points_mask, precision="dynamic-int8").first is None


@pytest.mark.slow
def test_the_repro_bundle_reproduces_on_2_14_in_a_fresh_process_and_not_on_litert(
    prepared, tmp_path
):
    path = genuine(quantization="dynamic-int8")
    table = localise(path, OLD_RUNTIME, *example(), precision="dynamic-int8")
    folder = write_repro(table, tmp_path / "bundle")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "README.txt", "input_00.npy", "model_explorer_node_data.json", "observed_output.npy",
        "op.tflite", "op_table.json", "reference_output.npy", "repro.json", "repro.py",
    ]  # fmt: skip
    readme = (folder / "README.txt").read_text()
    assert "FULLY_CONNECTED" in readme and "projection_x" in readme
    command = next(line for line in readme.splitlines() if "repro.py" in line and "cd " in line)
    command = command.strip().replace("<this folder>", str(folder))
    old = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)
    assert old.returncode == 1, old.stdout + old.stderr
    assert "via tflite_runtime.interpreter" in old.stdout and "REPRODUCED" in old.stdout
    here = subprocess.run(
        [sys.executable, "repro.py"], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert here.returncode == 0, here.stdout + here.stderr
    assert "via ai_edge_litert.interpreter" in here.stdout and "not reproduced" in here.stdout
    node_data = json.loads((folder / "model_explorer_node_data.json").read_text())
    assert len(node_data["results"]) > 300
    # The folder is replaced whole, never half-written: a second bundle takes its place.
    write_repro(table, folder)
    assert sorted(p.name for p in folder.iterdir()) == names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert oct(folder.stat().st_mode & 0o777) != oct(0o700)


@pytest.mark.slow
def test_verify_names_the_failing_op_after_the_stage_line_and_writes_the_bundle(prepared, tmp_path):
    path = genuine(quantization="dynamic-int8")
    done = run_in_process(
        "verify", *MODEL_ARGS, "--tflite", path, "--quantization", "dynamic-int8",
        "--examples", "12", "--runtime", OLD_RUNTIME,
        "--repro", tmp_path / "repro", "--report", tmp_path / "report",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    stage = next(i for i, line in enumerate(lines) if line.startswith("first divergence:"))
    assert lines[stage].startswith("first divergence: projection_x")
    op_line = lines[stage + 1]
    assert op_line.startswith("first failing op: FULLY_CONNECTED (op 2, tensor '")
    assert "projection_x): isolated max abs err" in op_line and "cumulative" in op_line
    assert "(against litert on the same file)" in op_line
    assert f"repro bundle: {tmp_path / 'repro'}" in done.stdout
    assert (tmp_path / "repro" / "op.tflite").is_file()
    report = json.loads((tmp_path / "report" / "parity.json").read_text())
    tables = [row["op_table"] for row in report["results"] if row.get("op_table")]
    assert len(tables) == 1 and tables[0]["first_isolated"] == 2
    assert tables[0]["runtime"] == OLD_RUNTIME and len(tables[0]["ops"]) == 322
    markdown = (tmp_path / "report" / "parity.md").read_text()
    assert f"{OLD_RUNTIME}: first failing op: FULLY_CONNECTED (op 2" in markdown


@pytest.mark.slow
def test_verify_localises_a_seeded_fault_against_the_checkpoints_fp32_export(tmp_path):
    done = run_in_process(
        "verify", *MODEL_ARGS, "--tflite", broken("gelu-tanh"), "--examples", "12",
        "--repro", tmp_path / "repro",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "first divergence: encoder_layer_0" in done.stdout
    op_line = next(line for line in done.stdout.splitlines() if "first failing op" in line)
    assert op_line.startswith("first failing op: GELU (op ")
    assert "encoder_layer_0): isolated" in op_line and "against litert on " in op_line
    facts = json.loads((tmp_path / "repro" / "repro.json").read_text())
    assert facts["departs_alone"] and facts["runtime"] == "litert"
    rerun = subprocess.run([sys.executable, "repro.py"], cwd=tmp_path / "repro",
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert rerun.returncode == 1 and "REPRODUCED" in rerun.stdout, rerun.stdout + rerun.stderr


# ---------------------------------------------------------------- the GPU lane


@pytest.mark.slow
@pytest.mark.needs_vulkan
def test_on_the_gpu_each_op_runs_alone_and_the_ffn_output_projection_departs(tmp_path):
    """The GPU keeps no intermediate tensors: only the isolated column is measured. The
    dynamic-int8 file (which fails parity on the GPU at its default precision) departs
    first at encoder layer 0's fc2, a FULLY_CONNECTED with int8 weights; every op ran.
    Its repro bundle reproduces it in a fresh process on the GPU, and not on the CPU."""
    path = genuine(quantization="dynamic-int8")
    table = localise(path, "compiled@gpu", *example(), precision="dynamic-int8")
    assert not table.cumulative_measured and table.first_cumulative is None
    assert all(row.isolated_err is not None for row in table.rows)
    first = table.first_isolated
    assert first is not None, table.lines()
    assert (first.type, first.stage) == ("FULLY_CONNECTED", "encoder_layer_0")
    assert short_name(first.output.encode()).decode().endswith("EncoderLayer_0/Linear_fc2;2")
    assert table.rtol == 5e-2, "dynamic-int8 stage bound (wider than the GPU fp16 widening)"
    assert table.lines()[0].endswith("cumulative not measured (against litert on the same file)")
    folder = write_repro(table, tmp_path / "repro")
    assert json.loads((folder / "repro.json").read_text())["accelerator"] == {
        "name": "gpu",
        "enforce_f32": False,
    }
    assert (
        "python repro.py --cpu runs the same op on the CPU" in (folder / "README.txt").read_text()
    )
    runs = {
        flag: subprocess.run([sys.executable, "repro.py", *flag], cwd=folder, capture_output=True,
                             text=True, timeout=300)
        for flag in ((), ("--cpu",))
    }  # fmt: skip
    gpu, cpu = runs[()], runs[("--cpu",)]
    assert gpu.returncode == 1 and "REPRODUCED" in gpu.stdout, gpu.stdout + gpu.stderr
    assert "via ai_edge_litert.compiled_model on the GPU accelerator (default precision, fp16)" in (
        gpu.stdout
    )
    assert cpu.returncode == 0 and "not reproduced" in cpu.stdout, cpu.stdout + cpu.stderr


@pytest.mark.needs_vulkan
def test_on_the_gpu_the_stage_line_says_stages_were_not_measured_there():
    """Stages read on the CPU interpreter said "no divergence" about the dynamic-int8 file
    the GPU gets wrong; the line now says they cannot be measured on the accelerator."""
    from signbart_parity.checks.divergence import divergence_line
    from signbart_parity.model.default import load_model_or_default
    from signbart_parity.runtime.run.tflite import TFLiteModel

    model, _ = load_model_or_default(CONFIG, CHECKPOINT)
    tflite = TFLiteModel(genuine(quantization="dynamic-int8"), runtime="compiled@gpu")
    line = divergence_line(model, tflite, *example(), precision="dynamic-int8")
    assert line.startswith("first divergence: stages not measured on the GPU accelerator")
    assert "no divergence" not in line


# ---------------------------------------------------------------- the phone's CPU


@pytest.mark.slow
@pytest.mark.needs_qemu
def test_on_an_emulated_arm64_cpu_every_op_is_compared_both_ways(monkeypatch):
    """``litert@arm64`` runs in its emulated worker: the whole file with every tensor kept,
    and each op alone. The dynamic-int8 file is right there, op by op."""
    from signbart_parity.runtime.provision.venvs import CACHE_VARIABLE
    from signbart_parity.runtime.worker import client as worker

    monkeypatch.setenv(CACHE_VARIABLE, str(scratch() / "arm64"))  # test_arm64.py's builds
    try:
        table = localise(
            genuine(quantization="dynamic-int8"), "litert@arm64", *example(),
            precision="dynamic-int8",
        )  # fmt: skip
    finally:
        worker.close_workers()
    assert table.cumulative_measured and len(table.rows) == 322
    assert all(row.cumulative_err is not None and row.isolated_err is not None
               for row in table.rows)  # fmt: skip
    assert table.first is None, table.lines()
    assert max(row.isolated_ratio for row in table.rows) < 0.5


@pytest.mark.slow
def test_the_failing_op_alone_is_right_in_2_14_with_per_tensor_weight_scales(prepared, tmp_path):
    """What makes 2.14 wrong: the per-channel weight scales. The first hybrid
    FULLY_CONNECTED, cut out, returns zeros in 2.14; the same op with its weights
    re-quantized per tensor (one scale) is right there, as in LiteRT."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from signbart_parity.checks.ops import run_one_op

    model = schema.ModelT.InitFromPackedBuf(
        bytearray(cut_op(genuine(quantization="dynamic-int8"), 2)), 0
    )
    weights = model.subgraphs[0].tensors[model.subgraphs[0].operators[0].inputs[1]]
    int8 = np.frombuffer(bytes(model.buffers[weights.buffer].data), np.int8)
    scales = np.asarray(weights.quantization.scale, np.float32)
    assert len(scales) == weights.shape[0] > 1, "per-channel scales, one per output"
    real = int8.reshape(weights.shape).astype(np.float32) * scales[:, None]
    x = np.random.default_rng(0).random((1, 16, real.shape[1]), dtype=np.float32)
    expected = x @ real.T

    def run(path, runtime) -> float:
        return max_abs_err(expected, run_one_op(path, runtime, [x])) / np.abs(expected).max()

    as_exported = tmp_path / "per-channel.tflite"
    as_exported.write_bytes(cut_op(genuine(quantization="dynamic-int8"), 2))
    assert run(as_exported, "litert") < 0.01 and run(as_exported, OLD_RUNTIME) > 0.99
    scale = float(np.abs(real).max() / 127)
    requantized = np.clip(np.round(real / scale), -127, 127).astype(np.int8)
    model.buffers[weights.buffer].data = np.frombuffer(requantized.tobytes(), np.uint8)
    weights.quantization.scale = np.array([scale], np.float32)
    weights.quantization.zeroPoint = np.array([0], np.int64)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    per_tensor = tmp_path / "per-tensor.tflite"
    per_tensor.write_bytes(bytes(builder.Output()))
    assert run(per_tensor, OLD_RUNTIME) < 0.01 and run(per_tensor, "litert") < 0.01

"""A measurement that decides whether an emulated aarch64 CPU computes LiteRT correctly.

A tiny .tflite, generated here without the converter, holds the two kinds of matrix
product SignBart files run: a FULLY_CONNECTED on float weights (fp32 files) and one on
per-channel int8 weights with float activations (dynamic-int8 files: the kernel qemu 7.2
miscomputes with SME). The same fixed inputs run in this process (x86 LiteRT) and in the
aarch64 guest; both outputs must agree to a small share of their scale.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signbart_parity.runtime.provision.emulator import run_tool

IN_FEATURES, OUT_FEATURES, ROWS = 144, 96, 8
# Share of max |output| two correct kernels may differ by: far above rounding (about 1e-7
# for fp32, 1e-3 for int8 kernels that quantize activations differently) and far below
# the emulator bug (about 0.4 of the scale).
TOLERANCE = {"fp32": 1e-4, "dynamic-int8": 0.02}

_GUEST_RUN = """
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
model, inputs, outputs = sys.argv[1:4]
interpreter = Interpreter(model_path=model, num_threads=1)
interpreter.allocate_tensors()
interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.load(inputs))
interpreter.invoke()
np.savez(outputs, **{d["name"]: interpreter.get_tensor(d["index"])
                     for d in interpreter.get_output_details()})
"""


@dataclass(frozen=True)
class ProbeResult:
    errors: dict[str, float]  # precision -> max |guest - host| / max |host|
    detail: str | None = None  # why the guest produced no outputs

    @property
    def agrees(self) -> bool:
        return all(self.errors[name] <= TOLERANCE[name] for name in TOLERANCE)

    def summary(self) -> str:
        if self.detail:
            return f"the probe failed in the guest: {self.detail}"
        return ", ".join(
            f"{name} relative error {error:.2g} (allowed {TOLERANCE[name]:g})"
            for name, error in self.errors.items()
        )


def probe_model_bytes(seed: int = 0) -> bytes:
    """The probe flatbuffer: input x [ROWS, IN]; outputs fp32 = x W^T + b, dynamic-int8 =
    x Q^T + b with Q int8 per output channel."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(seed)
    weights = rng.normal(scale=0.1, size=(OUT_FEATURES, IN_FEATURES)).astype(np.float32)
    quantized = rng.integers(-127, 128, size=(OUT_FEATURES, IN_FEATURES), dtype=np.int8)
    scales = rng.uniform(0.002, 0.01, size=OUT_FEATURES).astype(np.float32)
    bias = rng.normal(size=OUT_FEATURES).astype(np.float32)

    def buffer(array: np.ndarray | None = None):
        entry = schema.BufferT()
        if array is not None:
            entry.data = np.frombuffer(array.tobytes(), dtype=np.uint8)
        return entry

    def tensor(name: str, shape: tuple[int, ...], kind: int, index: int, quantization=None):
        entry = schema.TensorT()
        entry.name, entry.shape, entry.type, entry.buffer = name, list(shape), kind, index
        entry.quantization = quantization
        return entry

    per_channel = schema.QuantizationParametersT()
    per_channel.scale, per_channel.zeroPoint = scales.tolist(), [0] * OUT_FEATURES
    per_channel.quantizedDimension = 0
    f32, i8 = schema.TensorType.FLOAT32, schema.TensorType.INT8
    tensors = [
        tensor("x", (ROWS, IN_FEATURES), f32, 0),
        tensor("weights", (OUT_FEATURES, IN_FEATURES), f32, 1),
        tensor("quantized", (OUT_FEATURES, IN_FEATURES), i8, 2, per_channel),
        tensor("bias", (OUT_FEATURES,), f32, 3),
        tensor("fp32", (ROWS, OUT_FEATURES), f32, 0),
        tensor("dynamic-int8", (ROWS, OUT_FEATURES), f32, 0),
    ]

    def fully_connected(weight: int, output: int):
        options = schema.FullyConnectedOptionsT()
        options.asymmetricQuantizeInputs = True
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, [0, weight, 3], [output]
        op.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
        op.builtinOptions = options
        return op

    subgraph = schema.SubGraphT()
    subgraph.name, subgraph.tensors, subgraph.inputs, subgraph.outputs = (
        "main",
        tensors,
        [0],
        [4, 5],
    )
    subgraph.operators = [fully_connected(1, 4), fully_connected(2, 5)]
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.FULLY_CONNECTED
    code.version = 9
    model = schema.ModelT()
    model.version, model.description = 3, "signbart-parity arm64 probe"
    model.operatorCodes, model.subgraphs = [code], [subgraph]
    model.buffers = [buffer(), buffer(weights), buffer(quantized), buffer(bias)]
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def probe_inputs(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(ROWS, IN_FEATURES)).astype(np.float32)


def run_on_host(model: Path, inputs: np.ndarray) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], inputs)
    interpreter.invoke()
    return {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}


def run_probe(command: list[str], env: dict[str, str]) -> ProbeResult:
    """Run the probe with the aarch64 Python ``command`` (plus ``env``) and on the host."""
    import os

    with tempfile.TemporaryDirectory(prefix="signbart-arm64-probe-") as scratch:
        folder = Path(scratch)
        model, inputs_path, outputs = folder / "probe.tflite", folder / "x.npy", folder / "y.npz"
        model.write_bytes(probe_model_bytes())
        inputs = probe_inputs()
        np.save(inputs_path, inputs)
        result = run_tool(
            [*command, "-c", _GUEST_RUN, str(model), str(inputs_path), str(outputs)],
            "the arm64 probe",
            timeout=600,
            env={**os.environ, **env},
        )
        if result.returncode != 0 or not outputs.exists():
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else "no message"
            failed = {name: float("inf") for name in TOLERANCE}
            return ProbeResult(failed, f"exit {result.returncode}: {reason}")
        with np.load(outputs) as guest:
            guest_outputs = {name: guest[name] for name in guest.files}
        host = run_on_host(model, inputs)
    return ProbeResult({name: _relative_error(guest_outputs[name], host[name]) for name in host})


def _relative_error(guest: np.ndarray, host: np.ndarray) -> float:
    if guest.shape != host.shape or not np.all(np.isfinite(guest)):
        return float("inf")
    return float(np.max(np.abs(guest - host)) / max(float(np.max(np.abs(host))), 1e-12))

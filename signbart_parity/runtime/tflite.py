"""Run a SignBart .tflite file with a real TFLite runtime, one signature at a time.

Runtimes: ``litert`` (ai_edge_litert's Interpreter), ``tensorflow`` (TensorFlow's
``tf.lite.Interpreter``, what the seed's apps use) and ``compiled`` (ai_edge_litert's
``CompiledModel`` on the CPU, the API current Android apps are told to use). Every runtime
runs a signature by name, so each signature of a multi-signature file can be checked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from signbart_parity.errors import TFLiteFileError
from signbart_parity.quiet import notices_dropped, silence_teardown
from signbart_parity.runtime.signature import Signature, TensorSpec
from signbart_parity.targets import RUNTIMES

# Every .tflite flatbuffer carries this file identifier at byte offset 4.
_TFLITE_IDENTIFIER = b"TFL3"


def check_tflite_file(path: str | Path) -> Path:
    """Raise a TFLiteFileError unless ``path`` is an existing TFLite flatbuffer."""
    path = Path(path)
    if not path.is_file():
        raise TFLiteFileError(f"{path}: .tflite file not found; pass an existing file.")
    with open(path, "rb") as handle:
        header = handle.read(8)
    if header[4:8] != _TFLITE_IDENTIFIER:
        raise TFLiteFileError(
            f"{path}: not a TFLite model (no TFL3 identifier); pass the .tflite file itself."
        )
    return path


# ---------------------------------------------------------------- backends


class _InterpreterBackend:
    """ai_edge_litert's or TensorFlow's Interpreter, through a signature runner."""

    def __init__(self, path: Path, runtime: str, num_threads: int | None, xnnpack: bool):
        interpreter_class, no_delegates = interpreter_api(runtime)
        # XNNPACK is the default delegate; the plain builtin kernels run without it.
        options = {} if xnnpack else {"experimental_op_resolver_type": no_delegates}
        self._interpreter = interpreter_class(
            model_path=str(path), num_threads=num_threads, **options
        )
        self.signature_names = list(self._interpreter.get_signature_list())

    def open(self, key: str | None) -> tuple[list[dict], list[dict]]:
        interpreter = self._interpreter
        if key is None:  # a file without signature defs: its primary subgraph
            interpreter.allocate_tensors()
            inputs = sorted(interpreter.get_input_details(), key=lambda d: d["index"])
            outputs = interpreter.get_output_details()
            self._run = self._run_primary
        else:
            runner = interpreter.get_signature_runner(key)
            order = interpreter.get_signature_list()[key]
            details = runner.get_input_details()
            inputs = [details[name] | {"key": name} for name in order["inputs"]]
            out_details = runner.get_output_details()
            outputs = [out_details[name] | {"key": name} for name in order["outputs"]]
            self._runner = runner
            self._input_keys = [detail["key"] for detail in inputs]
            self._output_key = outputs[0]["key"]
            self._run = self._run_signature
        self._inputs, self._outputs = inputs, outputs
        return inputs, outputs

    def run(self, feeds: list[np.ndarray]) -> np.ndarray:
        return self._run(feeds)

    def _run_signature(self, feeds: list[np.ndarray]) -> np.ndarray:
        result = self._runner(**dict(zip(self._input_keys, feeds, strict=True)))
        return result[self._output_key]

    def _run_primary(self, feeds: list[np.ndarray]) -> np.ndarray:
        for detail, value in zip(self._inputs, feeds, strict=True):
            self._interpreter.set_tensor(detail["index"], value)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._outputs[0]["index"])


def interpreter_api(runtime: str):
    """(Interpreter class, the op resolver type that applies no delegate) of a runtime."""
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        return Interpreter, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    import tensorflow as tf

    resolver = tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return tf.lite.Interpreter, resolver


class _CompiledBackend:
    """ai_edge_litert's CompiledModel on the CPU (it always uses XNNPACK there)."""

    def __init__(self, path: Path, runtime: str, num_threads: int | None, xnnpack: bool):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import CpuOptions, Options

        if not xnnpack:
            raise ValueError("the compiled runtime always runs XNNPACK on the CPU")
        options = Options(
            hardware_accelerators=HardwareAccelerator.CPU,
            cpu_options=CpuOptions(num_threads=num_threads or 0),  # 0: the runtime's default
        )
        self._model = CompiledModel.from_file(
            str(path), environment=_shared_environment(), options=options
        )
        self.signature_names = list(self._model.get_signature_list())

    def open(self, key: str | None) -> tuple[list[dict], list[dict]]:
        if key is None:
            raise ValueError("the compiled runtime runs signatures; this file declares none")
        model = self._model
        order = model.get_signature_list()[key]
        details = model.get_input_tensor_details(key)
        inputs = [details[name] | {"key": name} for name in order["inputs"]]
        out_details = model.get_output_tensor_details(key)
        outputs = [out_details[name] | {"key": name} for name in order["outputs"]]
        index = model.get_signature_index(key)
        self._index = index
        self._input_buffers = model.create_input_buffers(index)
        self._output_buffers = model.create_output_buffers(index)
        self._output = outputs[0]
        wide = [d["key"] for d in inputs if np.dtype(d["dtype"]) == np.int64]
        if wide:
            raise _NoInt64(f"{wide[0]} is int64")
        return inputs, outputs

    def run(self, feeds: list[np.ndarray]) -> np.ndarray:
        for buffer, value in zip(self._input_buffers, feeds, strict=True):
            buffer.write(value)
        self._model.run_by_index(self._index, self._input_buffers, self._output_buffers)
        shape = tuple(self._output["shape"])
        dtype = np.dtype(self._output["dtype"])
        return self._output_buffers[0].read(int(np.prod(shape)), dtype).reshape(shape)


class _NoInt64(Exception):
    """LiteRT's TensorBuffer (Python and Kotlin) writes no int64 data."""


_ENVIRONMENT = []


def _shared_environment():
    """One LiteRT environment per process (set up once; released when the process ends)."""
    silence_teardown()
    if not _ENVIRONMENT:
        import ai_edge_litert
        from ai_edge_litert.environment import Environment

        runtime_path = str(Path(ai_edge_litert.__file__).parent)
        _ENVIRONMENT.append(Environment.create(runtime_path=runtime_path))
    return _ENVIRONMENT[0]


def _backend(runtime: str):
    if runtime in ("litert", "tensorflow"):
        return _InterpreterBackend
    if runtime == "compiled":
        return _CompiledBackend
    raise ValueError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")


# ---------------------------------------------------------------- the model


class TFLiteModel:
    """One signature of a loaded .tflite file: ``model(keypoints, attention_mask) -> logits``.

    ``signature`` names the signature to run; it may be omitted when the file has one (or
    none). Inputs are matched by rank (keypoints are rank 4, the mask rank 2), cast to the
    dtype the file declares (int32, int64 or float32 for the mask), and quantized with the
    file's scale and zero point when its inputs are integer-quantized.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        runtime: str = "litert",
        signature: str | None = None,
        num_threads: int | None = None,
        xnnpack: bool = True,
    ) -> None:
        self.path = check_tflite_file(path)
        self.runtime = runtime
        backend_class = _backend(runtime)
        try:
            with notices_dropped():  # XNNPACK's and LiteRT's start-up notices
                self._backend = backend_class(self.path, runtime, num_threads, xnnpack)
                self.signature_names = self._backend.signature_names
                self.signature_key = self._choose(signature)
                inputs, outputs = self._backend.open(self.signature_key)
                # Runtimes set up delegates and buffers on the first run: do it here, where
                # their start-up notices are filtered, not on the first real call.
                self._backend.run([np.zeros(d["shape"], np.dtype(d["dtype"])) for d in inputs])
        except _NoInt64 as exc:
            raise TFLiteFileError(
                f"{self.path}: the compiled runtime cannot feed this file ({exc}; LiteRT's "
                "TensorBuffer writes no int64 data, in Python as in Kotlin); check it with "
                "--runtime litert, or re-export it with an int32 mask."
            ) from None
        except (ValueError, RuntimeError) as exc:
            raise TFLiteFileError(
                f"{self.path}: the {runtime} runtime cannot load this file ({exc}); re-export it."
            ) from None
        self._input_details = inputs
        self._output_detail = outputs[0]
        self.signature = Signature(
            inputs=tuple(_spec(detail) for detail in inputs),
            outputs=tuple(_spec(detail) for detail in outputs),
            name=self.signature_key or "",
        )
        self._check_shape()

    @staticmethod
    def names_in(path: str | Path) -> list[str]:
        """The signature names a file declares, in file order ([""] for a file without)."""
        from ai_edge_litert.interpreter import Interpreter

        path = check_tflite_file(path)
        try:
            names = list(Interpreter(model_path=str(path)).get_signature_list())
        except (ValueError, RuntimeError) as exc:
            raise TFLiteFileError(
                f"{path}: the TFLite runtime cannot load this file ({exc}); re-export it."
            ) from None
        return names or [""]

    def _choose(self, signature: str | None) -> str | None:
        names = self.signature_names
        if signature == "" and not names:
            return None  # "" names the only subgraph of a file without signatures
        if signature is not None:
            if signature not in names:
                raise TFLiteFileError(
                    f"{self.path}: no signature {signature!r}; the file has "
                    f"{', '.join(names) or 'none'}."
                )
            return signature
        if len(names) > 1:
            raise TFLiteFileError(
                f"{self.path}: the file holds {len(names)} signatures ({', '.join(names)}); "
                "name the one to run."
            )
        return names[0] if names else None

    def _check_shape(self) -> None:
        ranks = sorted(len(spec.shape) for spec in self.signature.inputs)
        if ranks != [2, 4] or len(self.signature.outputs) != 1:
            raise TFLiteFileError(
                f"{self.path}: not a SignBart model (expected a rank-4 keypoints input, a "
                f"rank-2 mask input and one output; found {self.signature.describe()})."
            )
        keypoints = next(d for d in self._input_details if len(d["shape"]) == 4)
        if self.runtime == "compiled" and np.dtype(keypoints["dtype"]).kind in "iu":
            raise TFLiteFileError(
                f"{self.path}: integer-quantized keypoints input; the compiled runtime "
                "exposes no quantization parameters: use --runtime litert."
            )

    @property
    def seq_len(self) -> int:
        return self.signature.seq_len

    @property
    def batch_size(self) -> int:
        return self.signature.keypoints.shape[0]

    def __call__(self, keypoints: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Logits (B, num_labels) as float32; a batch larger than the file's runs in chunks."""
        step = self.batch_size
        chunks = [
            self._invoke(keypoints[start : start + step], attention_mask[start : start + step])
            for start in range(0, len(keypoints), step)
        ]
        return np.concatenate(chunks, axis=0)

    def _invoke(self, keypoints: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = [
            _to_input(keypoints if len(detail["shape"]) == 4 else attention_mask, detail)
            for detail in self._input_details
        ]
        return _from_output(self._backend.run(feeds), self._output_detail)


def _spec(detail: dict) -> TensorSpec:
    return TensorSpec(
        name=detail["name"],
        shape=tuple(int(n) for n in detail["shape"]),
        dtype=np.dtype(detail["dtype"]).name,
        key=detail.get("key", ""),
    )


def _quantization(detail: dict) -> tuple[float, int] | None:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return (scale, zero_point) if scale else None


def _to_input(value: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    quant = _quantization(detail)
    if quant is not None and len(detail["shape"]) == 4:
        scale, zero_point = quant
        info = np.iinfo(dtype)
        value = np.clip(np.round(value / scale) + zero_point, info.min, info.max)
    return np.ascontiguousarray(value, dtype=dtype)


def _from_output(value: np.ndarray, detail: dict) -> np.ndarray:
    quant = _quantization(detail)
    if quant is None:
        return value.astype(np.float32, copy=True)
    scale, zero_point = quant
    return ((value.astype(np.float32) - zero_point) * scale).astype(np.float32)

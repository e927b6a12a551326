"""Run a SignBart .tflite file with the real TFLite runtime (ai_edge_litert or tf.lite)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from signbart_parity.errors import TFLiteFileError
from signbart_parity.signature import Signature, TensorSpec

RUNTIMES = ("litert", "tensorflow")
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


def _interpreter_class(runtime: str):
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter
    elif runtime == "tensorflow":
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806 - a class, named as upstream names it
    else:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    return Interpreter


def _no_delegates(runtime: str):
    if runtime == "litert":
        from ai_edge_litert.interpreter import OpResolverType
    else:
        import tensorflow as tf

        OpResolverType = tf.lite.experimental.OpResolverType  # noqa: N806 - upstream's name
    return OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


class TFLiteModel:
    """A loaded .tflite file: ``model(keypoints, attention_mask) -> logits``.

    Inputs are matched by rank (keypoints are rank 4, the mask rank 2), cast to the dtype
    the file declares (the converter narrows the int64 mask to int32), and quantized with
    the file's scale and zero point when its inputs are integer-quantized.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        runtime: str = "litert",
        num_threads: int | None = None,
        xnnpack: bool = True,
    ) -> None:
        self.path = check_tflite_file(path)
        self.runtime = runtime
        interpreter_class = _interpreter_class(runtime)
        # XNNPACK is the default delegate; the plain builtin kernels run without it.
        options = {} if xnnpack else {"experimental_op_resolver_type": _no_delegates(runtime)}
        try:
            self._interpreter = interpreter_class(
                model_path=str(self.path), num_threads=num_threads, **options
            )
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise TFLiteFileError(
                f"{self.path}: the TFLite runtime cannot load this file ({exc}); re-export it."
            ) from None
        self._input_details = self._ordered_inputs()
        self._output_detail = self._interpreter.get_output_details()[0]
        self.signature = Signature(
            inputs=tuple(_spec(detail) for detail in self._input_details),
            outputs=tuple(_spec(detail) for detail in self._interpreter.get_output_details()),
        )
        self._check_shape()

    def _ordered_inputs(self) -> list[dict]:
        """Input details in the signature's order (what an app passes), not tensor order."""
        details = {d["name"]: d for d in self._interpreter.get_input_details()}
        signatures = self._interpreter.get_signature_list()
        if not signatures:
            return sorted(details.values(), key=lambda d: d["index"])
        name, entry = next(iter(signatures.items()))
        runner_inputs = self._interpreter.get_signature_runner(name).get_input_details()
        return [details[runner_inputs[key]["name"]] for key in entry["inputs"]]

    def _check_shape(self) -> None:
        ranks = sorted(len(spec.shape) for spec in self.signature.inputs)
        if ranks != [2, 4] or len(self.signature.outputs) != 1:
            raise TFLiteFileError(
                f"{self.path}: not a SignBart model (expected a rank-4 keypoints input, a "
                f"rank-2 mask input and one output; found {self.signature.describe()})."
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
        for detail in self._input_details:
            value = keypoints if len(detail["shape"]) == 4 else attention_mask
            self._interpreter.set_tensor(detail["index"], _to_input(value, detail))
        self._interpreter.invoke()
        return _from_output(
            self._interpreter.get_tensor(self._output_detail["index"]), self._output_detail
        )


def _spec(detail: dict) -> TensorSpec:
    return TensorSpec(
        name=detail["name"],
        shape=tuple(int(n) for n in detail["shape"]),
        dtype=np.dtype(detail["dtype"]).name,
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

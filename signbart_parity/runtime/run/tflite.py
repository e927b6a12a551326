"""Run a SignBart .tflite file with a real TFLite runtime, one signature at a time.

Runtimes: ``litert`` (ai_edge_litert's Interpreter), ``tensorflow`` (TensorFlow's
``tf.lite.Interpreter``, what the seed's apps use) and ``compiled`` (ai_edge_litert's
``CompiledModel`` on the CPU, the API current Android apps are told to use). Every runtime
runs a signature by name, so each signature of a multi-signature file can be checked.
A pinned build (``tflite-runtime==2.14.0``, ``litert==1.4.0``: ``runtime_specs.py``) runs
out of process, in an isolated environment of its own (``runtime/worker/client.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from signbart_parity.errors import AcceleratorRefused, RuntimeRefused, TFLiteFileError
from signbart_parity.limits import check_elements
from signbart_parity.quiet import notices_dropped, silence_teardown
from signbart_parity.runtime.read.signature import Signature, TensorSpec
from signbart_parity.runtime.run import backends
from signbart_parity.runtime.worker.client import WorkerBackend
from signbart_parity.runtime_specs import RuntimeSpec, parse_runtime_spec

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


def interpreter_api(runtime: str):
    """(Interpreter class, the op resolver type that applies no delegate) of a runtime."""
    return backends.interpreter_api(parse_runtime_spec(runtime).entry.worker_entry())


def _open_backend(path: Path, spec: RuntimeSpec, num_threads: int | None, xnnpack: bool):
    """The spec's backend on ``path``: in process, on its accelerator, or in a worker for a
    pinned build."""
    if spec.on_accelerator is not None:
        return _accelerator_backend(spec.on_accelerator.backend)(
            path, str(spec), num_threads, xnnpack
        )
    if not spec.in_process:
        return WorkerBackend(path, str(spec), num_threads, xnnpack)
    entry = spec.entry.worker_entry()
    if spec.entry.compiled:
        silence_teardown()  # its accelerators log their destruction at process exit
    return backends.backend_class(entry)(path, entry, num_threads, xnnpack)


def open_backend(
    path: str | Path, runtime: str, num_threads: int | None = None, xnnpack: bool = True
):
    """The backend ``runtime`` runs ``path`` with (``open(signature)``, ``run(feeds)``),
    for files that are not SignBart models (op-level localisation's single-op files)."""
    return _open_backend(Path(path), parse_runtime_spec(runtime), num_threads, xnnpack)


def _gpu_refused() -> type[Exception]:
    """The GPU backend's refusal, imported only where the GPU lane is in use."""
    import sys

    module = sys.modules.get("signbart_parity.runtime.gpu")
    return module.GpuRefused if module is not None else _NeverRaised


class _NeverRaised(Exception):
    pass


def _accelerator_backend(dotted: str):
    """The backend class an accelerator's registry entry names (``module:Class``)."""
    import importlib

    module, name = dotted.split(":")
    return getattr(importlib.import_module(module), name)


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
        self.spec = parse_runtime_spec(runtime)  # ValueError naming the accepted forms
        self.runtime = str(self.spec)  # the canonical text of the spec
        try:
            with notices_dropped():  # XNNPACK's and LiteRT's start-up notices
                self._backend = _open_backend(self.path, self.spec, num_threads, xnnpack)
                self.signature_names = self._backend.signature_names
                self.signature_key = self._choose(signature)
                inputs, outputs = self._backend.open(self.signature_key)
                # Runtimes set up delegates and buffers on the first run: do it here, where
                # their start-up notices are filtered, not on the first real call.
                for detail in inputs:  # refused before np.zeros allocates it (a ValueError)
                    check_elements(detail["shape"], f"input {detail.get('name', '')}")
                self._backend.run([np.zeros(d["shape"], np.dtype(d["dtype"])) for d in inputs])
        except backends.NoInt64 as exc:
            raise TFLiteFileError(
                f"{self.path}: the {self.runtime} runtime cannot feed this file ({exc}; "
                "LiteRT's TensorBuffer writes no int64 data, in Python as in Kotlin); check it "
                "with --runtime litert, or re-export it with an int32 mask."
            ) from None
        except _gpu_refused() as exc:
            raise AcceleratorRefused(
                f"{self.path}: does not load on the GPU accelerator: {exc}"
            ) from None
        except (ValueError, RuntimeError) as exc:
            raise _refused(self.path, self.spec, exc) from None
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
        if self.spec.entry.compiled and np.dtype(keypoints["dtype"]).kind in "iu":
            raise TFLiteFileError(
                f"{self.path}: integer-quantized keypoints input; the compiled runtime "
                "exposes no quantization parameters: use --runtime litert."
            )

    @property
    def runtime_build(self) -> dict:
        """The build that ran the file: runtime, version, arch, emulator (for reports)."""
        build = getattr(self._backend, "build", None)
        if build is not None:
            return dict(build)
        import platform

        return {
            "runtime": self.spec.kind,
            "version": backends.runtime_version(self.spec.entry.worker_entry()),
            "arch": platform.machine(),
            "emulator": None,
        }

    def latency(
        self, keypoints: np.ndarray, attention_mask: np.ndarray, iterations: int
    ) -> tuple[float, float]:
        """(median, p90) ms of one call, timed where the runtime runs (inside a worker for
        a pinned build, so the pipe's cost is not counted)."""
        if hasattr(self._backend, "time"):
            feeds = self._feeds(keypoints, attention_mask)
            return self._backend.time(feeds, iterations)
        return backends.measure(lambda: self(keypoints, attention_mask), iterations)

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
        feeds = self._feeds(keypoints, attention_mask)
        try:
            return _from_output(self._backend.run(feeds), self._output_detail)
        except _gpu_refused() as exc:
            raise AcceleratorRefused(
                f"{self.path}: the GPU accelerator failed running it: {exc}"
            ) from None

    def _feeds(self, keypoints: np.ndarray, attention_mask: np.ndarray) -> list[np.ndarray]:
        return [
            _to_input(keypoints if len(detail["shape"]) == 4 else attention_mask, detail)
            for detail in self._input_details
        ]


def _refused(path: Path, spec: RuntimeSpec, exc: Exception) -> Exception:
    """A file the runtime will not load: bad input when it is the build installed here (the
    reference for a valid file), a finding about that build when it is a pinned one."""
    if spec.installed:
        return TFLiteFileError(
            f"{path}: the {spec} runtime cannot load this file ({exc}); re-export it."
        )
    return RuntimeRefused(
        f"{path}: the {spec} runtime cannot load this file ({exc}): a finding about that "
        "runtime build, not bad input."
    )


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

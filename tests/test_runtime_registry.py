"""A runtime kind is one registry entry: its words, package, runner and spec forms come
from there, and an accelerator axis (``@gpu``, ``@gpu:fp32``) sits beside ``@arm64``."""

from __future__ import annotations

import dataclasses

import pytest

from signbart_parity import runtime_specs
from signbart_parity.runtime.run import backends
from signbart_parity.runtime_specs import REGISTRY, RuntimeSpec, parse_runtime_spec


def test_every_kind_names_a_runner_the_backends_have() -> None:
    for kind in REGISTRY.values():
        assert backends.backend_class(kind.worker_entry()) is backends.RUNNERS[kind.runner]
        assert kind.package in kind.distributions and kind.words
        assert kind.name in runtime_specs.FORMS


def test_the_in_process_interpreter_is_found_from_the_entry_alone() -> None:
    interpreter, _ = backends.interpreter_api(REGISTRY["litert"].worker_entry())
    assert interpreter.__name__ == "Interpreter"
    assert backends.runtime_version(REGISTRY["litert"].worker_entry()) != "not installed"


@pytest.fixture
def accelerated(monkeypatch):
    """A kind that takes an accelerator, as ``compiled`` takes the GPU: one entry added."""
    entry = dataclasses.replace(
        REGISTRY["compiled"], name="compiled-accel", accelerators=("gpu",), words="accel"
    )
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    return entry


@pytest.mark.parametrize(
    "text, accelerator, detail, in_process",
    [
        ("compiled-accel@gpu", "gpu", None, True),
        ("compiled-accel@gpu:fp32", "gpu", "fp32", True),
    ],
)
def test_an_accelerator_is_a_spec_form_of_a_kind_that_declares_it(
    accelerated, text, accelerator, detail, in_process
) -> None:
    spec = parse_runtime_spec(text)
    assert (spec.accelerator, spec.accelerator_detail, spec.arch) == (accelerator, detail, None)
    assert str(spec) == text and parse_runtime_spec(str(spec)) == spec
    assert spec.in_process is in_process and spec.entry is accelerated
    assert "accel (GPU accelerator, " in spec.describe()


def test_the_gpu_is_one_accelerator_entry_that_compiled_declares() -> None:
    assert REGISTRY["compiled"].accelerators == ("gpu",)
    assert runtime_specs.ACCELERATORS["gpu"].backend.endswith(":GpuBackend")
    assert "compiled@gpu, compiled@gpu:fp32" in runtime_specs.FORMS
    assert (
        parse_runtime_spec("compiled@gpu:fp32")
        .describe()
        .startswith("ai-edge-litert's CompiledModel (GPU accelerator, fp32 enforced; CPU fallback)")
    )


def test_a_kind_without_that_accelerator_refuses_it() -> None:
    with pytest.raises(ValueError, match="runs through compiled@gpu"):
        parse_runtime_spec("litert@gpu")
    with pytest.raises(ValueError, match="unknown architecture or accelerator"):
        parse_runtime_spec("compiled@tpu")
    assert parse_runtime_spec("litert@arm64:cortex-a76") == RuntimeSpec(
        "litert", None, "arm64", "cortex-a76"
    )


def test_a_pinned_build_on_the_gpu_runs_in_its_builds_environment_with_the_accelerators_data():
    from signbart_parity.runtime.provision.venvs import environment_folder

    spec = parse_runtime_spec("compiled==2.3.0@gpu:fp32")
    assert str(spec) == "compiled==2.3.0@gpu:fp32" and not spec.in_process
    assert str(spec.build) == "compiled==2.3.0"
    assert environment_folder(spec) == environment_folder(parse_runtime_spec("compiled==2.3.0"))
    entry = spec.worker_entry()
    assert entry["runner"] == "CompiledBackend"
    assert entry["accelerator"] == {"name": "gpu", "enforce_f32": True}
    assert parse_runtime_spec("compiled==2.3.0@gpu").worker_entry()["accelerator"] == {
        "name": "gpu",
        "enforce_f32": False,
    }
    assert "compiled==X.Y.Z@gpu" in runtime_specs.FORMS
    with pytest.raises(ValueError, match="first shipped in ai-edge-litert 2.0"):
        parse_runtime_spec("compiled==1.4.0@gpu")


def test_tensorflow_runs_in_a_worker_and_never_loads_in_the_tools_process() -> None:
    """TensorFlow beside LiteRT's GPU accelerator segfaults a process, so its installed build
    runs in a worker on this Python: the logits are litert's, and this process never imports
    it (checked in a fresh interpreter, where no other test can have imported it)."""
    import subprocess
    import sys

    from tests.tflite_files import genuine

    script = (
        "import sys, numpy as np\n"
        "from signbart_parity.runtime.run.tflite import TFLiteModel\n"
        "keypoints = np.random.default_rng(0).standard_normal((1, 16, 90, 2), dtype=np.float32)\n"
        "mask = np.ones((1, 16), np.int32)\n"
        "logits = [TFLiteModel(sys.argv[1], runtime=r, num_threads=1)(keypoints, mask)\n"
        "          for r in ('tensorflow', 'litert')]\n"
        "np.testing.assert_allclose(*logits, atol=1e-5)\n"
        "print('tensorflow in this process:', 'tensorflow' in sys.modules)\n"
    )
    spec = parse_runtime_spec("tensorflow")
    assert spec.installed and not spec.in_process
    done = subprocess.run(
        [sys.executable, "-c", script, str(genuine())], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tensorflow in this process: False" in done.stdout

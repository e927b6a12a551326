"""The aarch64 LiteRT environment: Debian's arm64 CPython under qemu-user with the aarch64
wheels, checked against x86 LiteRT in this process on real converted files, and the
emulator trust policy refusing a qemu that miscomputes (qemu-user-static 7.2 with SME).
Tests that run the emulator are marked ``needs_qemu`` (tests/lanes.py): skipped loudly without
qemu-user 10, failed in CI.

The environment is built once per machine in the tests' shared scratch folder; emulated
runs are kept to a few fixed examples (each call takes about a second).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from signbart_parity.errors import RuntimeEnvironmentError, SetupError
from signbart_parity.inputs.generators import example_batch
from signbart_parity.runtime.provision import emulator as qemu
from signbart_parity.runtime.provision.arm64 import (
    PYTHON_ENV,
    arm64_environment,
    folder_name,
    litert_version,
)
from signbart_parity.runtime.run.tflite import TFLiteModel
from tests import tflite_files
from tests.tflite_files import SEQ_LEN, scratch

EXAMPLES = 4
ON_X86 = platform.machine() == "x86_64"
needs_x86 = pytest.mark.skipif(not ON_X86, reason="emulation is only used on x86 hosts")

# Run in the aarch64 guest: every example of a .npz through the file, logits to a .npy.
GUEST_RUN = """
import json, platform, sys
import numpy as np
import ai_edge_litert
from ai_edge_litert.interpreter import Interpreter
model, inputs, output = sys.argv[1:4]
interpreter = Interpreter(model_path=model, num_threads=1)
interpreter.allocate_tensors()
details = interpreter.get_input_details()
data = np.load(inputs)
logits = []
for keypoints, mask in zip(data["keypoints"], data["mask"]):
    for detail in details:
        value = keypoints if len(detail["shape"]) == 4 else mask
        interpreter.set_tensor(detail["index"], value[None].astype(detail["dtype"]))
    interpreter.invoke()
    logits.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0])
np.save(output, np.stack(logits))
print(json.dumps({"machine": platform.machine(), "litert": ai_edge_litert.__version__}))
"""


@dataclass(frozen=True)
class Spec:
    """Stand-in for the runtime spec parser's RuntimeSpec (same attributes)."""

    kind: str = "litert"
    version: str | None = None
    arch: str = "arm64"
    cpu: str | None = None


@pytest.fixture(scope="session")
def cache_root() -> Path:
    return scratch() / "arm64"


@pytest.fixture(scope="session")
def emulated(cache_root):
    return arm64_environment(Spec(), cache_root, create=True)


def run_guest(environment, model: Path, keypoints, mask, folder: Path) -> tuple[np.ndarray, dict]:
    command, env, _ = environment
    np.savez(folder / "inputs.npz", keypoints=keypoints, mask=mask)
    output = folder / "logits.npy"
    done = subprocess.run(
        [*command, "-c", GUEST_RUN, str(model), str(folder / "inputs.npz"), str(output)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(output), json.loads(done.stdout.strip().splitlines()[-1])


def fixed_inputs(num_keypoints: int, seq_len: int = SEQ_LEN):
    keypoints, mask, _ = example_batch(
        np.random.default_rng(7), count=EXAMPLES, seq_len=seq_len, num_keypoints=num_keypoints
    )
    return keypoints.astype(np.float32), mask


# -- the environment and real files ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
def test_the_emulated_python_is_aarch64_with_the_harness_litert(emulated):
    from importlib.metadata import version

    command, env, description = emulated
    assert Path(command[0]).name.startswith("qemu-aarch64")
    assert env["QEMU_CPU"] == "cortex-a76" and env["PYTHONNOUSERSITE"] == "1"
    assert description["arch"] == "aarch64" and description["cpu"] == "cortex-a76"
    assert description["version"] == version("ai-edge-litert") == "2.3.0"
    assert description["emulator"].startswith("qemu-aarch64")
    script = "import platform, numpy, ai_edge_litert; print(platform.machine(), numpy.__name__)"
    done = subprocess.run(
        [*command, "-c", script], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert done.stdout.split() == ["aarch64", "numpy"], done.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
def test_the_emulated_python_loads_the_standard_library_from_bytecode(emulated):
    """Every emulated start imports the standard library, numpy and LiteRT; compiling their
    sources under qemu at each start tripled its cost. Even where the caller turns bytecode
    off (PYTHONDONTWRITEBYTECODE=1), the modules the guest imports have it on disk."""
    command, env, _ = emulated
    script = "import inspect, json, typing; print(inspect.__file__)"
    done = subprocess.run(
        [*command, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stdlib = Path(command[3]).parents[1] / "lib" / "python3.11"  # qemu -L ROOT PYTHON
    assert Path(done.stdout.strip()) == stdlib / "inspect.py"
    for name in ("inspect", "json/__init__", "typing"):
        folder, stem = (stdlib / name).parent, Path(name).name
        assert (folder / "__pycache__" / f"{stem}.cpython-311.pyc").is_file(), name


MODELS = {
    "default": (tflite_files.genuine, 90),
    "100-keypoint": (tflite_files.hundred_keypoint, 100),
}


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
@pytest.mark.parametrize("quantization", ["none", "dynamic-int8"])
@pytest.mark.parametrize("model_name", list(MODELS))
def test_arm64_logits_match_x86(emulated, model_name, quantization, tmp_path):
    export, num_keypoints = MODELS[model_name]
    path = export(SEQ_LEN, quantization)
    keypoints, mask = fixed_inputs(num_keypoints)
    arm, facts = run_guest(emulated, path, keypoints, mask, tmp_path)
    x86 = TFLiteModel(path, num_threads=1)(keypoints, mask)
    assert facts == {"machine": "aarch64", "litert": "2.3.0"}
    assert arm.shape == x86.shape == (EXAMPLES, x86.shape[1])
    error = float(np.max(np.abs(arm - x86)))
    if quantization == "none":
        assert error <= 1e-4, error
    else:
        assert error <= 0.05 * float(np.max(np.abs(x86))), error
    assert (arm.argmax(axis=1) == x86.argmax(axis=1)).all()


# -- the emulator's /proc/cpuinfo and the trust policy ---------------------------------


def qemu_at_least_10() -> qemu.Emulator:
    emulator = qemu.find_emulator()
    if emulator.version < qemu.TRUSTED_FROM:
        pytest.fail(f"{emulator.label}: these tests need qemu-user >= 10.0.2 installed")
    return emulator


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
@pytest.mark.parametrize("cpu", ["cortex-a53", "cortex-a76", "a64fx", "max"])
def test_the_written_cpuinfo_is_what_qemu_10_emulates(emulated, cache_root, cpu):
    """qemu 10 emulates /proc/cpuinfo; the file written for older qemu must say the same."""
    emulator = qemu_at_least_10()
    sysroot = cache_root / "runtimes" / folder_name("litert", "2.3.0") / "sysroot"
    python = sysroot / "usr" / "bin" / "python3.11"
    guest = qemu.guest_cpu(emulator, sysroot, python, cpu)
    read = "print(open('/proc/cpuinfo').read(), end='')"
    shown = subprocess.run(
        [str(emulator.path), "-L", str(sysroot), str(python), "-I", "-c", read],
        capture_output=True,
        text=True,
        env={**os.environ, "QEMU_CPU": cpu},
    ).stdout
    first_block = qemu.cpuinfo_text(cpu, guest, 1)
    assert shown.startswith(first_block), (shown, first_block)
    assert guest.has_sme == (cpu == "max")


@pytest.fixture(scope="session")
def qemu_7_2() -> Path:
    """Debian bookworm's qemu-user-static 7.2, unpacked (it conflicts with qemu-user 10)."""
    folder = scratch() / "qemu-user-static-7.2"
    binary = folder / "usr" / "bin" / "qemu-aarch64-static"
    if binary.is_file():
        return binary
    madison = subprocess.run(
        ["apt-cache", "madison", "qemu-user-static"], capture_output=True, text=True
    ).stdout
    versions = [line.split("|")[1].strip() for line in madison.splitlines() if "|" in line]
    version = next(v for v in versions if v.startswith("1:7.2"))
    download = folder.with_name(folder.name + ".download")
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    os.chmod(download, 0o755)
    subprocess.run(["apt-get", "download", f"qemu-user-static={version}"], cwd=download, check=True)
    subprocess.run(
        ["dpkg", "-x", str(next(download.glob("*.deb"))), str(download / "root")], check=True
    )
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(download / "root", folder)
    shutil.rmtree(download)
    return binary


def relabelled(binary: Path, version: str, folder: Path) -> Path:
    """``binary`` under a wrapper whose --version says ``version``: a qemu between the
    known-bad and the known-good ones, so the policy must measure it."""
    wrapper = folder / "qemu-aarch64"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then echo "qemu-aarch64 version {version}"; exit 0; fi\n'
        f'exec {binary} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
def test_qemu_7_2_with_sme_is_refused_naming_the_fix(emulated, cache_root, qemu_7_2, monkeypatch):
    monkeypatch.setenv(qemu.QEMU_ENV, str(qemu_7_2))
    with pytest.raises(RuntimeEnvironmentError) as refused:
        arm64_environment(Spec(cpu="max"), cache_root, create=False)
    message = str(refused.value)
    assert "\n" not in message and isinstance(refused.value, SetupError)
    assert "qemu-aarch64-static 7.2" in message and "SME" in message
    assert "10.0.2" in message and "bookworm-backports" in message and "cortex-a76" in message


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
def test_an_untrusted_qemu_is_measured_and_refused_with_the_numbers(
    emulated, cache_root, qemu_7_2, monkeypatch, tmp_path
):
    """qemu 7.2 relabelled 9.2: nothing is known about it, so the probe decides; with SME
    its dynamic-int8 products are wrong and the refusal gives the measured error."""
    monkeypatch.setenv(qemu.QEMU_ENV, str(relabelled(qemu_7_2, "9.2.0", tmp_path)))
    for record in (cache_root / "runtimes" / folder_name("litert", "2.3.0") / "trust").glob(
        "*9.2.0*"
    ):
        record.unlink()  # measure now, not a verdict from an earlier run
    with pytest.raises(RuntimeEnvironmentError) as refused:
        arm64_environment(Spec(cpu="max"), cache_root, create=False)
    message = str(refused.value)
    assert "disagrees with x86" in message and "\n" not in message
    assert "fp32 relative error 0" in message  # only the int8 kernel is broken
    int8_error = float(message.split("dynamic-int8 relative error ")[1].split()[0])
    assert int8_error > 0.1


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
def test_qemu_7_2_without_sme_is_measured_trusted_and_runs_a_real_file(
    emulated, cache_root, qemu_7_2, monkeypatch, tmp_path
):
    """qemu 7.2 passes the host's x86 /proc/cpuinfo through, on which LiteRT crashes: the
    environment points qemu at a root holding the ARM one, and the file runs correctly."""
    monkeypatch.setenv(qemu.QEMU_ENV, str(qemu_7_2))
    environment = arm64_environment(Spec(cpu="cortex-a76"), cache_root, create=False)
    command, env, description = environment
    assert description["emulator"].startswith("qemu-aarch64-static 7.2")
    assert description["trust"].startswith("measured: fp32 relative error")
    root = Path(command[command.index("-L") + 1])
    assert "CPU part\t: 0xd0b" in (root / "proc" / "cpuinfo").read_text()
    path = tflite_files.hundred_keypoint(SEQ_LEN, "dynamic-int8")
    keypoints, mask = fixed_inputs(100)
    arm, facts = run_guest(environment, path, keypoints, mask, tmp_path)
    x86 = TFLiteModel(path, num_threads=1)(keypoints, mask)
    assert facts["machine"] == "aarch64"
    assert float(np.max(np.abs(arm - x86))) <= 0.05 * float(np.max(np.abs(x86)))


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
def test_an_aarch64_python_named_by_the_environment_variable_gets_only_the_wheels(
    emulated, cache_root, monkeypatch, tmp_path
):
    """$SIGNBART_PARITY_ARM64_PYTHON (here a script starting the emulated one, as a
    container's would) is used as it is: no emulator in the command, no sysroot built."""
    command, env, _ = emulated
    script = tmp_path / "python-arm64"
    script.write_text(f'#!/bin/sh\nQEMU_CPU=cortex-a76 exec {" ".join(command)} "$@"\n')
    script.chmod(0o755)
    monkeypatch.setenv(PYTHON_ENV, str(script))
    other_root = tmp_path / "cache"
    external_command, external_env, description = arm64_environment(Spec(), other_root, True)
    assert external_command == [str(script)]
    assert description["emulator"] is None and description["arch"] == "aarch64"
    folder = other_root / "runtimes" / folder_name("litert", "2.3.0")
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "site-cp311"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert any(
        name.startswith("ai_edge_litert-2.3.0") for name in manifest["site-cp311"]["packages"]
    )
    path = tflite_files.genuine(SEQ_LEN, "none")
    keypoints, mask = fixed_inputs(90)
    arm, facts = run_guest(
        (external_command, external_env, description), path, keypoints, mask, tmp_path
    )
    assert facts["machine"] == "aarch64"
    np.testing.assert_allclose(arm, TFLiteModel(path, num_threads=1)(keypoints, mask), atol=1e-4)


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
def test_a_version_the_index_has_no_aarch64_wheel_of_is_refused(emulated, monkeypatch, tmp_path):
    """A version beyond the known builds is tried with pip; its refusal names the builds."""
    command, _, _ = emulated
    script = tmp_path / "python-arm64"
    script.write_text(f'#!/bin/sh\nQEMU_CPU=cortex-a76 exec {" ".join(command)} "$@"\n')
    script.chmod(0o755)
    monkeypatch.setenv(PYTHON_ENV, str(script))
    with pytest.raises(RuntimeEnvironmentError) as refused:
        arm64_environment(Spec(version="2.99.0"), tmp_path / "cache", create=True)
    assert str(refused.value) == (
        "litert==2.99.0@arm64: ai-edge-litert 2.99.0 has no aarch64 wheel for Python 3.11; "
        "builds with one: ai-edge-litert 1.1.0-1.4.0 and 2.0.2-2.3.0."
    )
    assert not (tmp_path / "cache" / "runtimes" / "litert-2.99.0-aarch64" / "site-cp311").exists()


# -- refusals that need no emulator --------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (Spec(version="1.0.0"), "litert==1.0.0@arm64: ai-edge-litert 1.0.0 has no aarch64 wheel"),
        (Spec(version="2.0.1", cpu="max"), "ai-edge-litert 2.0.1 has no aarch64 wheel"),
        (Spec(kind="tflite-runtime"), "tflite-runtime has no aarch64 build"),
    ],
)
def test_a_runtime_without_an_aarch64_build_is_refused_naming_the_builds(spec, expected):
    with pytest.raises(RuntimeEnvironmentError) as refused:
        litert_version(spec)
    assert expected in str(refused.value)
    assert "1.1.0-1.4.0 and 2.0.2-2.3.0" in str(refused.value)


def test_the_default_and_pinned_versions():
    assert litert_version(Spec()) == "2.3.0"
    assert litert_version(Spec(version="1.4.0")) == "1.4.0"


@pytest.mark.needs_qemu
@needs_x86
def test_an_unprepared_environment_is_refused_without_building(tmp_path):
    with pytest.raises(RuntimeEnvironmentError) as refused:
        arm64_environment(Spec(version="2.2.0", cpu="neoverse-n1"), tmp_path, create=False)
    assert str(refused.value).endswith(
        "run `signbart-parity runtimes prepare litert==2.2.0@arm64:neoverse-n1`."
    )
    assert not (tmp_path / "runtimes").exists()


def test_a_missing_emulator_names_the_package_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(qemu.QEMU_ENV, raising=False)
    with pytest.raises(RuntimeEnvironmentError) as refused:
        qemu.find_emulator()
    assert "apt-get install -t bookworm-backports qemu-user" in str(refused.value)
    monkeypatch.setenv(qemu.QEMU_ENV, str(tmp_path / "qemu-aarch64"))
    with pytest.raises(RuntimeEnvironmentError, match="no such file"):
        qemu.find_emulator()


def test_an_x86_python_named_as_the_aarch64_one_is_refused(tmp_path, monkeypatch):
    import sys

    monkeypatch.setenv(PYTHON_ENV, sys.executable)
    with pytest.raises(RuntimeEnvironmentError, match=f"runs on {platform.machine()}, not"):
        arm64_environment(Spec(), tmp_path, create=True)


@needs_x86
def test_an_unknown_cpu_model_lists_the_known_ones(tmp_path):
    with pytest.raises(RuntimeEnvironmentError) as refused:
        arm64_environment(Spec(cpu="cortex-z9"), tmp_path, create=True)
    assert "'cortex-z9' is not one" in str(refused.value) and "neoverse-n1" in str(refused.value)


def test_qemu_versions_parse():
    assert qemu.parse_qemu_version("qemu-aarch64 version 10.0.2 (Debian 1:10.0.2+ds)") == (
        10,
        0,
        2,
    )
    assert qemu.parse_qemu_version("qemu-aarch64 version 8.1 (x)") == (8, 1, 0)
    assert qemu.parse_qemu_version("no version here") is None


def test_hwcaps_name_the_features_linux_prints():
    assert qemu.features(0x8FB, 0) == "fp asimd aes pmull sha1 sha2 crc32 cpuid".split()
    assert "asimddp" in qemu.features(0x119FFB, 0)
    assert qemu.GuestCpu(0, qemu.SME_BIT, True).has_sme


# -- the lane: verify, golden check and the gate through litert@arm64 ----------------------


@pytest.fixture
def arm64_cache(cache_root, emulated, monkeypatch):
    """Commands run with the shared aarch64 environment as their cache (prepared once)."""
    from signbart_parity.runtime.worker import client as worker

    monkeypatch.setenv("SIGNBART_PARITY_CACHE", str(cache_root))
    yield cache_root
    worker.close_workers()


@pytest.mark.needs_qemu
@needs_x86
def test_prepare_and_list_name_the_emulated_build_one_way(arm64_cache):
    """litert@arm64 is prepared, listed and stored under one name: litert==2.3.0@arm64."""
    from tests.cli import run_in_process

    prepared = run_in_process("runtimes", "prepare", "litert@arm64:cortex-a76")
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    line = prepared.stdout.splitlines()[0]
    folder = arm64_cache / "runtimes" / folder_name("litert", "2.3.0")
    assert line.startswith(f"litert==2.3.0@arm64:cortex-a76: {folder} ("), line
    listed = run_in_process("runtimes", "list")
    assert "litert==2.3.0@arm64" in listed.stdout and "aarch64 (" not in folder.name


def verify_arm64(path, quantization: str, *extra: str):
    from tests.cli import run_in_process

    return run_in_process(
        "verify", *tflite_files.MODEL_ARGS, "--tflite", path, "--quantization", quantization,
        "--examples", "12", "--runtime", "litert@arm64", *extra,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
@pytest.mark.parametrize("quantization", ["none", "dynamic-int8"])
def test_verify_passes_genuine_files_on_arm64_and_names_the_build(arm64_cache, quantization):
    done = verify_arm64(tflite_files.genuine(quantization=quantization), quantization)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parity holds" in done.stdout
    assert "runtime build: litert 2.3.0 on aarch64 (cortex-a76) under qemu-aarch64" in done.stdout


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
@pytest.mark.parametrize("fault", ["mask-ignored-in-encoder", "last-frame-pooling"])
def test_verify_fails_the_mask_and_pooling_faults_on_arm64(arm64_cache, fault):
    done = verify_arm64(tflite_files.broken(fault), "none")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PARITY VIOLATED" in done.stdout
    assert f"first divergence: {tflite_files.FAULT_STAGES[fault]}" in done.stdout


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
def test_golden_check_on_arm64_of_a_100_keypoint_model(arm64_cache, tmp_path):
    """A model that is not the embedded default, its golden file made with PyTorch, checked
    in the emulated aarch64 build: passes for the genuine file."""
    from tests.cli import run_in_process
    from tests.helpers import write_model

    config, checkpoint = write_model(tmp_path)
    path = tmp_path / "m.tflite"
    model = ["--config", config, "--checkpoint", checkpoint]
    made = run_in_process(
        "convert", *model, "--seq-len", "8", "--output", path, "--cache", tflite_files.cache_root()
    )
    assert made.returncode == 0, made.stderr
    golden = tmp_path / "g.npz"
    created = run_in_process("golden", "create", *model, "--seq-len", "8", "--output", golden)
    assert created.returncode == 0, created.stderr
    done = run_in_process(
        "golden", "check", "--tflite", path, "--golden", golden, "--runtime", "litert@arm64"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(litert@arm64 runtime)" in done.stdout and "parity holds" in done.stdout


@pytest.mark.slow
@pytest.mark.needs_qemu
@needs_x86
def test_the_gate_runs_the_arm64_lane_on_a_fixed_batch(arm64_cache, pytester, tmp_path):
    """--parity-runtime=litert,litert@arm64: the emulated targets run the fixed-batch checks
    and the pinned-build check, their drawn-example properties are reported as not checked
    (with how many examples stand in), and the report names aarch64 and the emulator."""
    import json

    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--pyargs", "signbart_parity.gate",
        "--parity-seq-lens=16", "--parity-quantization=none,dynamic-int8",
        "--parity-runtime=litert,litert@arm64",
        *tflite_files.shared_gate_cache(tmp_path / "corpus"),
        "--parity-report=report", "--parity-profile=ci",
    )  # fmt: skip
    report = json.loads((pytester.path / "report" / "parity.json").read_text())
    assert result.ret == 0 and report["passed"], result.stdout.str()
    arm = [o for o in report["outcomes"] if o["target"] and "@arm64" in o["target"]["runtime"]]
    by_check = {o["check"]: o["outcome"] for o in arm}
    assert by_check["agreement"] == by_check["runtime-build"] == by_check["contract"] == "passed"
    assert by_check["parity"] == "skipped" and "72 examples" in next(
        o["message"] for o in arm if o["check"] == "parity"
    )
    rows = {row["runtime"]: row for row in report["results"] if row["quantization"] == "fp32"}
    # The fixed batch of 72 ran whole on the emulated build: judged, plus the examples outside
    # the app contract (no valid frame) shown apart.
    arm = rows["litert@arm64"]
    agreement = arm["checks"]["agreement"]["examples"] + arm["outside"]["agreement"]["examples"]
    assert agreement == 72 and rows["litert"]["examples"] > arm["examples"]
    assert rows["litert@arm64"]["runtime_build"]["arch"] == "aarch64"
    markdown = (pytester.path / "report" / "parity.md").read_text()
    assert "on aarch64 (cortex-a76) under qemu-aarch64" in markdown

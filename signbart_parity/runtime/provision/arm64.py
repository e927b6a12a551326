"""An aarch64 Python with LiteRT, to run .tflite files on the CPU phones have.

On an x86 host the Python is Debian's arm64 CPython 3.11, unpacked (never installed) into a
sysroot and run under qemu-user; on an aarch64 host it is the host's own Python; with
$SIGNBART_PARITY_ARM64_PYTHON it is the Python named there (a container, a board). The
LiteRT and numpy wheels for aarch64 are installed beside it with pip's ``--platform``.

Everything lives under ``<cache_root>/runtimes/<kind>==<version>@arm64-cp311-linux_aarch64/``:
``sysroot/``, ``site-cp3XX/`` (each built in a temporary sibling and renamed into place,
under a file lock, so concurrent sessions build it once), ``roots/<cpu>/`` (the sysroot
plus the ARM /proc/cpuinfo a qemu before 10 does not emulate), ``trust/`` (measured
emulator verdicts) and ``manifest.json``.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from signbart_parity.errors import RuntimeEnvironmentError
from signbart_parity.fileio import atomic_directory, write_json_atomic
from signbart_parity.runtime.provision import emulator as qemu
from signbart_parity.runtime.provision.arm64_probe import ProbeResult, run_probe
from signbart_parity.runtime_specs import REGISTRY

PYTHON_ENV = "SIGNBART_PARITY_ARM64_PYTHON"
DEFAULT_CPU = "cortex-a76"  # armv8.2 with dot product: most phones of the last years
GUEST_PYTHON = "3.11"
AARCH64_BUILDS = "ai-edge-litert 1.1.0-1.4.0 and 2.0.2-2.3.0"
# Debian's arm64 CPython 3.11 and the libraries it and the LiteRT wheels load.
SYSROOT_PACKAGES = (
    "python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libgcc-s1 "
    "libstdc++6 zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1 "
    "libncursesw6 libtinfo6 libreadline8 libdb5.3 libgdbm6 libnsl2 libtirpc3 libcrypt1 "
    "libkrb5-3 libgssapi-krb5-2 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1"
).split()
# 1.x wheels are manylinux_2_17, 2.x manylinux_2_27; numpy's newest need 2_28. All are
# within the glibc of the sysroot (2.36) and of any aarch64 Linux from 2019 on.
MANYLINUX_TAGS = {
    1: ("manylinux_2_17_aarch64", "manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    2: ("manylinux_2_27_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64"),
}
_PROBE_PYTHON = "import platform, sys; print(platform.machine(), *sys.version_info[:2])"


class Spec(Protocol):
    kind: str
    version: str | None
    arch: str | None
    cpu: str | None


def arm64_environment(
    spec: Spec, cache_root: Path, create: bool
) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """(argv starting an aarch64 Python that imports ai_edge_litert and numpy, extra
    environment variables, description). ``create=False`` never builds: a missing
    environment is a ``RuntimeEnvironmentError`` naming ``signbart-parity runtimes prepare``."""
    version = litert_version(spec)
    folder = Path(cache_root) / "runtimes" / folder_name(spec.kind, version)
    context = _Context(spec, version, folder, create)
    external = os.environ.get(PYTHON_ENV)
    if external:
        return context.direct([external], source=f"{PYTHON_ENV}={external}")
    if platform.machine().lower() in ("aarch64", "arm64"):
        return context.direct([shutil.which("python3.11") or sys.executable], source="host")
    return context.emulated()


def folder_name(kind: str, version: str) -> str:
    """The environment's folder, named as a user writes the build (``litert==2.3.0@arm64``)
    and as pinned environments are (Python and platform tags after it); every emulated CPU
    model shares it."""
    return f"{kind}=={version}@arm64-cp311-linux_aarch64"


def spec_label(spec: Spec) -> str:
    """The spec as a user writes it: ``litert==2.3.0@arm64:max``."""
    pin = f"=={spec.version}" if spec.version else ""
    cpu = f":{spec.cpu}" if spec.cpu else ""
    return f"{spec.kind}{pin}@{spec.arch or 'arm64'}{cpu}"


def litert_version(spec: Spec) -> str:
    """The pinned version, or the harness's own ai-edge-litert; refused when no aarch64
    wheel of it exists."""
    kind = REGISTRY.get(spec.kind)
    if kind is None or not kind.emulated:
        raise RuntimeEnvironmentError(
            f"{spec_label(spec)}: {spec.kind} has no aarch64 build for Python 3.11; on arm64 "
            f"only litert runs ({AARCH64_BUILDS})."
        )
    version = spec.version or metadata.version("ai-edge-litert")
    numbers = _version_tuple(version)
    if numbers < (1, 1, 0) or (2, 0, 0) <= numbers < (2, 0, 2):
        raise RuntimeEnvironmentError(_no_wheel(spec, version))
    return version


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def _no_wheel(spec: Spec, version: str) -> str:
    return (
        f"{spec_label(spec)}: ai-edge-litert {version} has no aarch64 wheel for Python 3.11; "
        f"builds with one: {AARCH64_BUILDS}."
    )


class _Context:
    def __init__(self, spec: Spec, version: str, folder: Path, create: bool) -> None:
        self.spec, self.version, self.folder, self.create = spec, version, folder, create
        self.label = spec_label(spec)

    # -- the three ways to an aarch64 Python ------------------------------------------

    def direct(self, command: list[str], *, source: str) -> tuple[list[str], dict, dict]:
        """A Python that runs aarch64 code itself (no emulator)."""
        machine, python = _python_identity(command, source)
        if machine not in ("aarch64", "arm64"):
            raise RuntimeEnvironmentError(
                f"{source}: that Python runs on {machine}, not aarch64; point "
                f"{PYTHON_ENV} at an aarch64 Python (or unset it to emulate one)."
            )
        site = self.ensure_site(python)
        return command, _python_env(site), self.description(None, "native", None)

    def emulated(self) -> tuple[list[str], dict, dict]:
        emulator = qemu.find_emulator()
        cpu = self.spec.cpu or DEFAULT_CPU
        qemu.check_cpu_model(emulator, cpu)
        sysroot = self.ensure_sysroot()
        _compile_stdlib(sysroot)
        site = self.ensure_site(GUEST_PYTHON)
        python = sysroot / "usr" / "bin" / f"python{GUEST_PYTHON}"
        guest = qemu.guest_cpu(emulator, sysroot, python, cpu)
        verdict = qemu.known_verdict(emulator, cpu, guest)
        if verdict is not None and verdict != "trusted":
            raise RuntimeEnvironmentError(f"{self.label}: {verdict}")
        root = sysroot if guest.emulates_cpuinfo else self.ensure_cpu_root(cpu, guest)
        command = [str(emulator.path), "-L", str(root), str(python)]
        env = {**_python_env(site), "QEMU_CPU": cpu}
        trust = self.trust(emulator, cpu, verdict, command, env)
        return command, env, self.description(emulator, cpu, trust)

    def description(self, emulator: qemu.Emulator | None, cpu: str, trust: str | None) -> dict:
        return {
            "arch": "aarch64",
            "cpu": cpu,
            "emulator": emulator.label if emulator else None,
            "runtime": self.spec.kind,
            "version": self.version,
            "trust": trust,
        }

    # -- components, each built once and atomically -----------------------------------

    def ensure(self, name: str, build, **record) -> Path:
        from filelock import FileLock

        target = self.folder / name
        if target.is_dir():
            return target
        if not self.create:
            raise RuntimeEnvironmentError(
                f"{self.label}: the aarch64 environment is not prepared ({target} is missing); "
                f"run `signbart-parity runtimes prepare {self.label}`."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.folder) + ".lock"):
            if not target.is_dir():
                with atomic_directory(target) as temp:
                    details = build(temp)
                self._record(name, {**record, **details})
        return target

    def _record(self, name: str, details: dict) -> None:
        path = self.folder / "manifest.json"
        manifest = json.loads(path.read_text()) if path.exists() else {}
        manifest.setdefault("spec", {"kind": self.spec.kind, "version": self.version})
        manifest[name] = details
        write_json_atomic(path, manifest)

    def ensure_sysroot(self) -> Path:
        return self.ensure("sysroot", _build_sysroot, source="Debian arm64 packages")

    def ensure_site(self, python: str) -> Path:
        def build(target: Path) -> dict:
            return _install_wheels(target, self.spec, self.version, python)

        return self.ensure(f"site-cp{python.replace('.', '')}", build, python=python)

    def ensure_cpu_root(self, cpu: str, guest: qemu.GuestCpu) -> Path:
        """The sysroot seen through links, plus the ARM /proc/cpuinfo of ``cpu``."""
        from filelock import FileLock

        text = qemu.cpuinfo_text(cpu, guest, os.cpu_count() or 1)
        root = self.folder / "roots" / cpu
        cpuinfo = root / "proc" / "cpuinfo"
        with FileLock(str(self.folder) + ".lock"):
            if cpuinfo.is_file() and cpuinfo.read_text() == text:
                return root
            shutil.rmtree(root, ignore_errors=True)  # written for another host's core count
            with atomic_directory(root) as temp:
                for entry in (self.folder / "sysroot").iterdir():
                    (temp / entry.name).symlink_to(Path("..", "..", "sysroot", entry.name))
                (temp / "proc").mkdir()
                (temp / "proc" / "cpuinfo").write_text(text)
        return root

    # -- trusting the emulator --------------------------------------------------------

    def trust(self, emulator, cpu: str, verdict: str | None, command: list[str], env: dict) -> str:
        """Why this emulator and CPU model are trusted: known good, else measured once (and
        refused with the numbers when the measurement disagrees with x86)."""
        if verdict == "trusted":
            return f"qemu >= {'.'.join(map(str, qemu.TRUSTED_FROM))}"
        record = self.folder / "trust" / re.sub(r"[^\w.-]", "_", f"{emulator.label}-{cpu}.json")
        if not record.exists():
            result = run_probe(command, env)
            write_json_atomic(
                record, {"errors": result.errors, "agrees": result.agrees, "detail": result.detail}
            )
        measured = json.loads(record.read_text())
        summary = _summary(measured)
        if not measured["agrees"]:
            raise RuntimeEnvironmentError(
                f"{self.label}: {emulator.label} with QEMU_CPU={cpu} disagrees with x86 on a "
                f"fixed probe ({summary}); install qemu-user >= 10.0.2 "
                "(`apt-get install -t bookworm-backports qemu-user`) or choose another CPU model."
            )
        return f"measured: {summary}"


def _summary(measured: dict) -> str:
    return ProbeResult(measured["errors"], measured.get("detail")).summary()


def _python_identity(command: list[str], source: str) -> tuple[str, str]:
    """(platform.machine(), "3.11") of the Python ``command`` starts."""
    result = qemu.run_tool([*command, "-c", _PROBE_PYTHON], source, timeout=300)
    fields = result.stdout.split()
    if result.returncode != 0 or len(fields) != 3:
        raise RuntimeEnvironmentError(
            f"{source}: that Python failed to start (exit {result.returncode})."
        )
    return fields[0], f"{fields[1]}.{fields[2]}"


def _python_env(site: Path) -> dict[str, str]:
    # Only the aarch64 site: the caller's PYTHONPATH may hold x86 packages. Bytecode is
    # written even where the caller turned that off (an empty value is off): each module
    # the emulated Python compiles itself costs every later start seconds.
    return {"PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": ""}


# -- building the components ----------------------------------------------------------


def _build_sysroot(target: Path) -> dict:
    """Unpack Debian's arm64 CPython and its libraries into ``target`` (nothing installed)."""
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise RuntimeEnvironmentError(
                f"Building the aarch64 Python needs Debian's {tool}; on another system set "
                f"{PYTHON_ENV} to an aarch64 Python 3.11."
            )
    _ensure_arm64_architecture()
    with tempfile.TemporaryDirectory(prefix="signbart-arm64-debs-") as scratch:
        os.chmod(scratch, 0o755)  # apt's download sandbox user must reach it
        debs = _download_debs(Path(scratch))
        for deb in debs:
            _run(["dpkg", "-x", str(deb), str(target)], f"dpkg -x {deb.name}")
    python = target / "usr" / "bin" / f"python{GUEST_PYTHON}"
    if not python.is_file():
        raise RuntimeEnvironmentError(
            f"The arm64 packages unpacked no {python.name}; this needs Debian bookworm's "
            f"python{GUEST_PYTHON} (or set {PYTHON_ENV})."
        )
    return {"packages": sorted(deb.name for deb in debs)}


def _compile_stdlib(sysroot: Path) -> None:
    """Compile the unpacked standard library once, where the guest finds it. ``dpkg -x``
    skips the package's own compile step, so every emulated start compiled each module it
    imported from source under qemu (importing LiteRT: 12 s that way, 4 s from bytecode).
    Bytecode is the same on every CPU, so this Python compiles it when it is the guest's
    version; otherwise the guest writes it as it goes (``_python_env``)."""
    done = sysroot / ".signbart-parity-bytecode"
    if done.exists() or f"{sys.version_info.major}.{sys.version_info.minor}" != GUEST_PYTHON:
        return
    compileall.compile_dir(sysroot / "usr" / "lib" / f"python{GUEST_PYTHON}", quiet=2)
    with contextlib.suppress(OSError):  # a read-only environment runs as before, slower
        done.touch()


def _ensure_arm64_architecture() -> None:
    foreign = _run(["dpkg", "--print-foreign-architectures"], "dpkg").split()
    if "arm64" in foreign:
        return
    if os.geteuid() != 0:
        raise RuntimeEnvironmentError(
            "apt knows no arm64 packages: run `dpkg --add-architecture arm64 && apt-get "
            "update` as root (or set " + PYTHON_ENV + ")."
        )
    _run(["dpkg", "--add-architecture", "arm64"], "dpkg --add-architecture arm64")
    _apt_update()


def _apt_update() -> None:
    _run(["apt-get", "update", "-q"], "apt-get update")


def _download_debs(folder: Path) -> list[Path]:
    names = [f"{name}:arm64" for name in SYSROOT_PACKAGES]
    try:
        _run(["apt-get", "download", "-q", *names], "apt-get download", cwd=folder)
    except RuntimeEnvironmentError:
        if os.geteuid() != 0:
            raise
        _apt_update()  # the arm64 lists may be missing or stale
        _run(["apt-get", "download", "-q", *names], "apt-get download", cwd=folder)
    return sorted(folder.glob("*.deb"))


def _install_wheels(target: Path, spec: Spec, version: str, python: str) -> dict:
    tags = MANYLINUX_TAGS.get(_version_tuple(version)[0], MANYLINUX_TAGS[2])
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-input"]
    command += ["--target", str(target), "--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", python]
    for tag in tags:
        command += ["--platform", tag]
    try:
        _run([*command, f"ai-edge-litert=={version}", "numpy"], "pip install")
    except RuntimeEnvironmentError as exc:
        if "No matching distribution found for ai-edge-litert" in str(exc):
            raise RuntimeEnvironmentError(_no_wheel(spec, version)) from None
        raise
    installed = sorted(p.name.removesuffix(".dist-info") for p in target.glob("*.dist-info"))
    return {"platforms": list(tags), "packages": installed}


def _run(command: list[str], what: str, cwd: Path | None = None) -> str:
    """``command``'s stdout; a failure is one line with the tool's last message."""
    result = qemu.run_tool(command, what, cwd=cwd)
    if result.returncode != 0:
        message = _error_line(result.stderr or result.stdout)
        raise RuntimeEnvironmentError(
            f"{what} failed (exit {result.returncode}): {message}; check the network and the "
            "apt / pip sources."
        )
    return result.stdout


def _error_line(text: str) -> str:
    """The most telling line of a tool's output: its last error, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("E:", "ERROR:", "error:"))]
    return (errors or lines or ["no message"])[-1]

"""Isolated environments for pinned runtime builds (``tflite-runtime==2.14.0``, ...).

Each lives in ``<cache root>/runtimes/<spec>-cp311-<platform>/``: a virtual environment
holding numpy and the runtime package only, made once on first use and reused after. The
cache root is the export cache's default (``platformdirs``' user cache folder for
signbart-parity), or ``$SIGNBART_PARITY_CACHE`` when set. This tool's own environment is
never changed.

An environment is built in a temporary sibling folder, gets a ``manifest.json`` (spec,
Python, installed versions), and only then is renamed into place, so a half-made one is
never used; a file lock makes concurrent makers build it once. It is made with uv (a
relocatable venv and ``uv pip install``: ~0.7 s against ~7 s for ``python -m venv`` and
pip, measured), or with venv and pip where uv is not installed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from signbart_parity.errors import ParityInputError, RuntimeEnvironmentError
from signbart_parity.fileio import write_json_atomic
from signbart_parity.runtime.provision.arm64 import arm64_environment
from signbart_parity.runtime_specs import RuntimeSpec

CACHE_VARIABLE = "SIGNBART_PARITY_CACHE"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
INSTALL_TIMEOUT = 1800  # seconds; a TensorFlow wheel is several hundred MB


@dataclass(frozen=True)
class WorkerEnvironment:
    """How to start a Python that imports ``spec``'s runtime build."""

    spec: RuntimeSpec
    command: list[str]  # starts the environment's python (arguments are appended)
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables
    # e.g. {"runtime": "tflite-runtime", "version": "2.14.0", "arch": "x86_64", "emulator": None}
    description: dict = field(default_factory=dict)


def default_cache_root() -> Path:
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("signbart-parity"))


def runtimes_folder(cache_root: Path | None = None) -> Path:
    return Path(cache_root or default_cache_root()) / "runtimes"


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def environment_folder(spec: RuntimeSpec, cache_root: Path | None = None) -> Path:
    """The folder of ``spec``'s build (an accelerator runs in its build's environment:
    ``compiled==2.3.0@gpu`` in ``compiled==2.3.0``'s)."""
    platform_tag = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return runtimes_folder(cache_root) / f"{spec.build}-{python_tag()}-{platform_tag}"


def worker_environment(
    spec: RuntimeSpec, cache_root: Path | None = None, *, create: bool = True
) -> WorkerEnvironment:
    """The environment that runs ``spec``, made first when missing and ``create``."""
    if spec.installed:  # a kind that keeps its own process: this Python, its own packages
        return WorkerEnvironment(
            spec=spec,
            command=[sys.executable],
            description={"runtime": spec.kind, "arch": platform.machine(), "emulator": None},
        )
    root = Path(cache_root or default_cache_root())
    if spec.arch is not None:
        return _arm64_environment(spec, root, create)
    folder = environment_folder(spec, root)
    manifest = read_manifest(folder)
    if manifest is None:
        if not create:
            raise RuntimeEnvironmentError(_missing(spec))
        manifest = prepare(spec, root)["manifest"]
    return WorkerEnvironment(
        spec=spec,
        command=[str(_python(folder))],
        description={
            "runtime": spec.kind,
            "version": spec.version,
            "arch": platform.machine(),
            "emulator": None,
        },
    )


def _arm64_environment(spec: RuntimeSpec, root: Path, create: bool) -> WorkerEnvironment:
    command, env, description = arm64_environment(spec, root, create)
    return WorkerEnvironment(spec, list(command), dict(env), dict(description))


def _missing(spec: RuntimeSpec) -> str:
    return (
        f"the {spec} runtime environment is not prepared; run "
        f"`signbart-parity runtimes prepare {spec}` where the package index is reachable."
    )


def _python(folder: Path) -> Path:
    return folder / "bin" / "python"


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a complete environment in ``folder``, else None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return None
    return manifest if _python(folder).exists() else None


# ---------------------------------------------------------------- making one


def prepare(spec: RuntimeSpec, cache_root: Path | None = None) -> dict:
    """Make ``spec``'s environment unless it exists: {path, manifest, seconds, made}."""
    from filelock import FileLock

    if spec.installed:
        raise ParityInputError(
            f"runtime {spec} runs in process with the build installed here; pin a version "
            f"to prepare an environment (e.g. {spec.kind}==X.Y.Z)."
        )
    if spec.arch is not None:
        started = time.perf_counter()
        environment = worker_environment(spec, cache_root, create=True)
        seconds = time.perf_counter() - started
        return {
            "path": Path(environment.command[-1]).parents[3],  # <env>/sysroot/usr/bin/python
            "manifest": environment.description,
            "seconds": seconds,
        }
    folder = environment_folder(spec, cache_root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    lock = Path(str(folder) + ".lock")
    try:
        with FileLock(str(lock)):
            manifest = read_manifest(folder)
            made = manifest is None
            if made:
                manifest = _build(spec, folder)
    except BaseException:
        if read_manifest(folder) is None:  # nothing was made: no empty lock left behind
            lock.unlink(missing_ok=True)
        raise
    return {
        "path": folder,
        "manifest": manifest,
        "seconds": time.perf_counter() - started,
        "made": made,
    }


def _build(spec: RuntimeSpec, folder: Path) -> dict:
    if folder.exists():  # a half-made or foreign folder: never reused
        shutil.rmtree(folder)
    started = time.perf_counter()
    temp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".partial"))
    try:
        installer = _install(spec, temp)
        manifest = {
            "format": MANIFEST_FORMAT,
            "spec": str(spec.build),
            "python": _env_python_version(temp),
            "platform": sysconfig.get_platform(),
            "packages": _installed_packages(temp),
            "installer": installer,
            "seconds": round(time.perf_counter() - started, 2),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_json_atomic(temp / MANIFEST, manifest)
        os.replace(temp, folder)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return manifest


def numpy_requirement(spec: RuntimeSpec) -> str:
    """numpy for ``spec``: builds compiled against numpy 1.x (every tflite-runtime,
    ai-edge-litert before 1.1) fail to import under numpy 2 but do not declare it."""
    return "numpy<2" if spec.entry.needs_numpy1(spec.version) else "numpy"


def _install(spec: RuntimeSpec, folder: Path) -> str:
    """Make a venv in ``folder`` holding numpy and the runtime; the installer's name."""
    uv = _uv_binary()
    packages = [numpy_requirement(spec)]
    candidates = spec.entry.pinned_wheels(spec.version)
    if uv:
        _run(spec, [uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, folder])
        install = [uv, "pip", "install", "--quiet", "--python", _python(folder)]
        install += _uv_index_options()
    else:
        _run(spec, [sys.executable, "-m", "venv", "--without-pip", folder])
        install = [sys.executable, "-m", "pip", "--python", _python(folder), "install", "-q"]
    failure = None
    for requirement in candidates:
        try:
            _run(spec, [*install, *packages, requirement])
            return f"uv {_version_of(uv)}" if uv else "pip"
        except RuntimeEnvironmentError as exc:
            failure = exc
    raise failure


def _uv_binary() -> str | None:
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return None


def _uv_index_options() -> list[str]:
    """pip's index settings from the environment, for uv (which reads its own UV_* ones)."""
    options = []
    if os.environ.get("PIP_INDEX_URL") and not os.environ.get("UV_DEFAULT_INDEX"):
        options += ["--index-url", os.environ["PIP_INDEX_URL"]]
    if os.environ.get("PIP_NO_INDEX", "").lower() in ("1", "true", "yes", "on"):
        options.append("--no-index")
    return options


def _version_of(uv: str) -> str:
    done = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.split()[1] if done.returncode == 0 else "unknown"


def _run(spec: RuntimeSpec, command: list) -> None:
    try:
        done = subprocess.run(
            [str(part) for part in command],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeEnvironmentError(
            f"making the {spec} runtime environment took over {INSTALL_TIMEOUT} s; check the "
            f"package index and run `signbart-parity runtimes prepare {spec}`."
        ) from None
    if done.returncode != 0:
        raise RuntimeEnvironmentError(
            f"the {spec} runtime environment could not be made ({_last_reason(done)}); check "
            f"that the release exists and the package index is reachable, then run "
            f"`signbart-parity runtimes prepare {spec}`."
        )


def _last_reason(done: subprocess.CompletedProcess) -> str:
    """The installer's own reason, on one line."""
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    interesting = [line for line in lines if line.lower().startswith(("error", "caused by"))]
    shown = [line.removeprefix("error: ") for line in (interesting or lines or ["no output"])]
    reason = "; ".join(shown[:2])
    return reason.rstrip(".")[:300]


def _env_python_version(folder: Path) -> str:
    done = subprocess.run(
        [_python(folder), "-I", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _installed_packages(folder: Path) -> dict[str, str]:
    script = (
        "import json, re, importlib.metadata as m; "
        "print(json.dumps({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version "
        "for d in m.distributions()}))"
    )
    done = subprocess.run(
        [_python(folder), "-I", "-c", script], capture_output=True, text=True, check=True
    )
    return dict(sorted(json.loads(done.stdout).items()))


# ---------------------------------------------------------------- what is there


def list_environments(cache_root: Path | None = None) -> list[dict]:
    """Every complete environment: {path, manifest, size_bytes}, by name."""
    folder = runtimes_folder(cache_root)
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        manifest = read_manifest(entry) if entry.is_dir() else None
        if manifest is None and entry.is_dir() and entry.name.endswith("linux_aarch64"):
            manifest = _arm64_manifest(entry)
        if manifest is not None:
            found.append({"path": entry, "manifest": manifest, "size_bytes": _size(entry)})
    return found


def _arm64_manifest(folder: Path) -> dict | None:
    """An aarch64 environment's manifest (``runtime/provision/arm64.py`` writes its own form), in
    the shape ``list`` shows: spec text, Python, package versions."""
    try:
        raw = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        site = raw["site-cp311"]
        spec = f"{raw['spec']['kind']}=={raw['spec']['version']}@arm64"
    except (OSError, ValueError, KeyError, TypeError):
        return None
    packages = dict(name.rsplit("-", 1) for name in site.get("packages", []) if "-" in name)
    packages = {name.replace("_", "-"): version for name, version in packages.items()}
    return {"spec": spec, "python": f"{site.get('python', '?')} (aarch64)", "packages": packages}


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total

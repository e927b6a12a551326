"""``signbart-parity runtimes``: the isolated environments of pinned runtime builds.

``runtimes prepare SPEC...`` makes them ahead of use (where the package index is reachable:
a run that needs one and cannot make it stops with exit 2 and says to run this), and
``runtimes list`` shows what is there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from signbart_parity import argtypes
from signbart_parity.cli import common
from signbart_parity.runtime import gpu
from signbart_parity.runtime.provision.arm64 import litert_version, spec_label
from signbart_parity.runtime.provision.venvs import list_environments, prepare, runtimes_folder
from signbart_parity.runtime_specs import parse_runtime_spec


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "runtimes", help="prepare and list pinned TFLite runtime builds (tflite-runtime==2.14.0)"
    )
    actions = parser.add_subparsers(dest="runtimes_command", required=True, metavar="ACTION")
    prepare = actions.add_parser("prepare", help="make the environments of pinned builds")
    prepare.add_argument(
        "specs",
        type=argtypes.runtime,
        nargs="+",
        metavar="SPEC",
        help="pinned builds, e.g. tflite-runtime==2.14.0 litert==1.4.0 compiled==2.1.0; "
        "litert@arm64 (or litert==X.Y.Z@arm64[:CPU]) prepares the emulated aarch64 build",
    )
    common.add_output_options(prepare)
    prepare.set_defaults(handler=lambda args: prepare_command(args.specs))
    listing = actions.add_parser("list", help="the prepared environments, versions and sizes")
    common.add_output_options(listing)
    listing.set_defaults(handler=lambda args: list_command())


def prepare_command(specs: Sequence[str]) -> int:
    for text in specs:
        common.progress(f"preparing {text}")
        spec = parse_runtime_spec(text)
        if spec.gpu and spec.installed:
            print(_gpu_device_line(text))
            continue
        made = prepare(spec)  # a pinned build on the GPU: its environment, then its device
        manifest = made["manifest"]
        state = "made" if made.get("made", True) else "already there"
        if parse_runtime_spec(text).arch:  # the description of the emulated build
            shown = ", ".join(f"{k} {v}" for k, v in manifest.items() if v is not None)
            ready = f"ready in {made['seconds']:.1f} s"
            print(f"{_emulated_build(text)}: {made['path']} ({ready}; {shown})")
            continue
        print(
            f"{text}: {made['path']} ({state} in {made['seconds']:.1f} s; "
            f"{_versions(text, manifest)})"
        )
        if spec.gpu:
            print(_gpu_device_line(text))
    return 0


def _emulated_build(text: str) -> str:
    """The emulated build as ``runtimes list`` and the folder name it: its version resolved
    (``litert@arm64`` is ``litert==2.3.0@arm64``), the CPU model kept."""
    spec = parse_runtime_spec(text)
    return spec_label(replace(spec, version=litert_version(spec)))


def _gpu_device_line(text: str) -> str:
    """The Vulkan device the GPU accelerator found, and the probe that makes it trusted."""
    gpu.check_vulkan()
    gpu.prepare_environment()
    verdict = gpu.require_trusted_device(runtime=text)
    return (
        f"{text}: Vulkan device {gpu.device_words(verdict['device'])}; trusted: known small "
        f"graphs with fp32 enforced agree with the CPU ({gpu.checks_words(verdict)}, as a "
        "share of their scale)"
    )


def list_command() -> int:
    found = list_environments()
    if not found:
        print(f"no runtime environments in {runtimes_folder()}")
    for entry in found:
        manifest = entry["manifest"]
        size = entry["size_bytes"] / 1e6
        print(
            f"{manifest['spec']}: {entry['path']} ({_versions(manifest['spec'], manifest)}; "
            f"{size:.0f} MB)"
        )
    return 0


def _versions(text: str, manifest: dict) -> str:
    """Python and the runtime's and numpy's installed versions, from a manifest."""
    packages = manifest.get("packages", {})
    spec = parse_runtime_spec(text)
    names = [name for name in (*spec.entry.distributions, "numpy") if name in packages]
    shown = [f"python {manifest.get('python', '?')}"]
    shown += [f"{name} {packages[name]}" for name in names]
    return ", ".join(shown)

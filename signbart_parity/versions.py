"""Installed package versions and the environment a result was produced in (read from
package metadata: nothing heavy is imported)."""

from __future__ import annotations

import platform
from importlib import metadata

# What a parity result depends on: this tool, the converter, quantizer and runtimes.
TOOLCHAIN = ("torch", "litert-torch", "ai-edge-quantizer", "ai-edge-litert")


def installed_version(*distributions: str) -> str:
    """The version of the first of ``distributions`` that is installed, else "not installed"
    (several names for one package, e.g. ``tensorflow`` and ``tensorflow-cpu``)."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def toolchain_versions() -> dict[str, str]:
    """Versions of the packages that decide what a conversion produces (the cache key)."""
    return {package: installed_version(package) for package in TOOLCHAIN}


def environment() -> dict[str, str]:
    """This tool's version, Python, the platform and every package a result depends on."""
    return {
        "signbart-parity": installed_version("signbart-parity"),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        **toolchain_versions(),
        "tensorflow": installed_version("tensorflow", "tensorflow-cpu"),
        "numpy": installed_version("numpy"),
    }

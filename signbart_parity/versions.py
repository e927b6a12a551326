"""Installed package versions, read from metadata (no package is imported)."""

from __future__ import annotations

from importlib import metadata


def installed_version(*distributions: str) -> str:
    """The version of the first of ``distributions`` that is installed, else "not installed"
    (several names for one package, e.g. ``tensorflow`` and ``tensorflow-cpu``)."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"

"""How many examples the gate's properties draw: the ``dev``, ``ci`` and ``release`` profiles.

The gate applies its profile to its own tests only (``gate_settings``), built on hypothesis's
built-in defaults: nothing is registered or loaded globally, so a project's own hypothesis
profile and tests are never changed by installing this package. Choose one with
``--parity-profile NAME`` or ``SIGNBART_PARITY_PROFILE=NAME``; without either, ``ci`` when
the ``CI`` environment variable is set, else ``dev``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE_ENV = "SIGNBART_PARITY_PROFILE"
PROFILES = {
    "dev": {"max_examples": 10},
    # Derandomised: the same examples on every CI run, and a failure reproduces.
    "ci": {"max_examples": 25, "derandomize": True, "database": None, "print_blob": True},
    "release": {"max_examples": 200},
}
_COMMON = {
    "deadline": None,
    # Real-like keypoints take a few ms to generate and every example runs two models; the
    # per-test recorder is function-scoped on purpose (it follows hypothesis's phases).
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
_chosen: str | None = None


def choose(name: str | None) -> None:
    """Remember ``--parity-profile`` (the plugin calls this before the gate is imported)."""
    global _chosen
    _chosen = name


def profile_name() -> str:
    """The chosen profile; ValueError naming the fix when the environment names no profile."""
    name = _chosen or os.environ.get(PROFILE_ENV) or ("ci" if os.environ.get("CI") else "dev")
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_ENV}={name!r} is not a gate profile; choose one of {', '.join(PROFILES)}."
        )
    return name


def gate_settings(test):
    """Decorator: the chosen profile's settings, on hypothesis's defaults (not the user's)."""
    profile = settings(settings.get_profile("default"), **_COMMON, **PROFILES[profile_name()])
    return profile(test)

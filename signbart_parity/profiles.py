"""Hypothesis profiles for the gate: ``dev`` (fast), ``ci`` (derandomised), ``release``.

Choose one with ``--hypothesis-profile NAME`` or ``SIGNBART_PARITY_PROFILE=NAME``;
without either, ``ci`` when the ``CI`` environment variable is set, else ``dev``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE_ENV = "SIGNBART_PARITY_PROFILE"
# Real-like keypoints take a few ms to generate and every example runs two models.
_SLOW_DATA = [HealthCheck.too_slow]


def register_profiles() -> None:
    settings.register_profile(
        "dev", max_examples=10, deadline=None, suppress_health_check=_SLOW_DATA
    )
    settings.register_profile(
        "ci",
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=_SLOW_DATA,
    )
    settings.register_profile(
        "release", max_examples=200, deadline=None, suppress_health_check=_SLOW_DATA
    )


def default_profile() -> str:
    if os.environ.get(PROFILE_ENV):
        return os.environ[PROFILE_ENV]
    return "ci" if os.environ.get("CI") else "dev"

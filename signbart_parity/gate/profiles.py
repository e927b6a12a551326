"""How many examples the gate's properties draw: the ``dev``, ``ci`` and ``release`` profiles.

The gate applies its profile to its own tests only (``gate_settings``), built on hypothesis's
built-in defaults: nothing is registered or loaded globally, so a project's own hypothesis
profile and tests are never changed by installing this package. Choose one with
``--parity-profile NAME`` or ``SIGNBART_PARITY_PROFILE=NAME``; without either, ``ci`` when
the ``CI`` environment variable is set, else ``dev``.
"""

from __future__ import annotations

import os

import pytest

from signbart_parity.checks.corpus import HYPOTHESIS_FOLDER
from signbart_parity.gate.state import start

PROFILE_ENV = "SIGNBART_PARITY_PROFILE"
PROFILES = {
    "dev": {"max_examples": 10},
    # Derandomised: the same examples on every CI run, and a failure reproduces.
    "ci": {"max_examples": 25, "derandomize": True, "database": None, "print_blob": True},
    "release": {"max_examples": 200},
}
_PROFILE = pytest.StashKey[str]()
_PROFILED = "_signbart_parity_profiled"  # marks a test gate_settings applies to


def choose(config: pytest.Config) -> str:
    """The profile of this run (``--parity-profile``, else the environment), kept in the
    run's ``config.stash``; ValueError naming the fix when the environment names no profile."""
    name = (
        config.getoption("parity_profile", None)
        or os.environ.get(PROFILE_ENV)
        or ("ci" if os.environ.get("CI") else "dev")
    )
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_ENV}={name!r} is not a gate profile; choose one of {', '.join(PROFILES)}."
        )
    config.stash[_PROFILE] = name
    return name


def chosen(config: pytest.Config) -> str | None:
    """The profile ``choose`` picked for this run (None before it ran)."""
    return config.stash.get(_PROFILE, None)


def gate_settings(test):
    """Decorator: the test takes the run's gate profile, applied when it is collected
    (``apply_profile``), on hypothesis's defaults, not the user's."""
    setattr(test, _PROFILED, True)
    return test


def apply_profile(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every collected ``gate_settings`` test the run's profile (once per function)."""
    functions = {getattr(item, "function", None) for item in items}
    functions = {f for f in functions if getattr(f, _PROFILED, False) is True}
    if not functions:
        return  # no gate test here: hypothesis is not even imported
    from hypothesis import HealthCheck, settings

    common = {
        "deadline": None,
        # Real-like keypoints take a few ms to generate and every example runs two models;
        # the per-test recorder is function-scoped on purpose (it follows hypothesis's phases).
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    }

    try:
        name = config.stash.get(_PROFILE, None) or choose(config)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    storage = _storage(config, name, items)
    profile = settings(settings.get_profile("default"), **common, **PROFILES[name], **storage)
    for function in functions:
        profile(function)
        setattr(function, _PROFILED, name)


def _storage(config: pytest.Config, name: str, items: list[pytest.Item]) -> dict:
    """Keep what hypothesis writes out of the user's working folder: failing examples go to
    a ``DirectoryBasedExampleDatabase`` in the corpus folder (profiles that use a database;
    ``ci`` has none), and, when the run is the gate alone, hypothesis's other files (its
    constants cache) under the cache dir. A run that also holds other tests leaves
    hypothesis's home folder to them."""
    from hypothesis.configuration import set_hypothesis_home_dir
    from hypothesis.database import DirectoryBasedExampleDatabase

    options = start(config).options
    if all(item.get_closest_marker("parity") is not None for item in items):
        set_hypothesis_home_dir(options.cache_dir / "hypothesis-home")
    if "database" in PROFILES[name]:
        return {}
    return {"database": DirectoryBasedExampleDatabase(options.corpus_dir / HYPOTHESIS_FOLDER)}

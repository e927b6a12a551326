"""pytest plugin: the parity gate's options and fixtures (registered via ``pytest11``).

Heavy imports (torch, litert-torch, TFLite) happen inside fixtures, never at start-up.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from signbart_parity.profiles import default_profile, register_profiles

# Registered at import: hypothesis picks the profile in its pytest_configure, before any
# conftest of a repo that runs the gate with --pyargs would be read.
register_profiles()

DEFAULT_SEQ_LENS = "16,64"
DEFAULT_QUANTIZATIONS = "none,dynamic-int8"
DEFAULT_RUNTIMES = "litert"


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of whole numbers, e.g. 16,64"
        ) from None
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"sequence lengths must be positive, got {text!r}")
    return tuple(sorted(set(values)))


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}")
    return value


def _choice_list(allowed: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        values = tuple(dict.fromkeys(part.strip() for part in text.split(",")))
        unknown = [value for value in values if value not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown value {unknown[0]!r}; choose from {', '.join(allowed)}"
            )
        return values

    return parse


def pytest_addoption(parser: pytest.Parser) -> None:
    from signbart_parity.convert import QUANTIZATIONS
    from signbart_parity.runtime import RUNTIMES

    group = parser.getgroup("parity", "SignBart PyTorch vs TFLite parity gate")
    group.addoption(
        "--checkpoint",
        type=Path,
        default=None,
        metavar="PATH",
        help="checkpoint to gate. Default: the embedded default model",
    )
    group.addoption(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="SignBart YAML config. Default: configs/arabic-asl.yaml (bundled)",
    )
    group.addoption(
        "--seq-lens",
        type=_int_list,
        default=_int_list(DEFAULT_SEQ_LENS),
        metavar="T,T",
        help=f"sequence lengths to export. Default: {DEFAULT_SEQ_LENS}",
    )
    group.addoption(
        "--quantization",
        type=_choice_list(QUANTIZATIONS),
        default=_choice_list(QUANTIZATIONS)(DEFAULT_QUANTIZATIONS),
        metavar="Q,Q",
        help=f"precisions to export. Default: {DEFAULT_QUANTIZATIONS}",
    )
    group.addoption(
        "--runtime",
        type=_choice_list(RUNTIMES),
        default=_choice_list(RUNTIMES)(DEFAULT_RUNTIMES),
        metavar="R,R",
        help=f"TFLite runtimes (litert, tensorflow). Default: {DEFAULT_RUNTIMES}",
    )
    group.addoption(
        "--parity-cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="where exported files are cached across sessions. Default: the per-user cache dir",
    )
    group.addoption(
        "--parity-report",
        type=Path,
        default=None,
        metavar="DIR",
        help="write parity.json, parity.md and parity.html here. Default: none",
    )
    group.addoption(
        "--baseline",
        type=Path,
        default=None,
        metavar="TFLITE",
        help="the .tflite the app shipped: contract changes fail, prediction flips are "
        "counted. Default: none",
    )
    group.addoption(
        "--max-flip-rate",
        type=_rate,
        default=0.0,
        metavar="R",
        help="share of predictions allowed to flip against --baseline. Default: 0.0",
    )
    group.addoption(
        "--parity-samples",
        type=Path,
        nargs="+",
        default=None,
        metavar="PKL",
        help="real upstream .pkl samples (or folders). Default: the bundled one",
    )


def pytest_configure(config: pytest.Config) -> None:
    from signbart_parity.gate_options import options_from_pytest

    if config.getoption("hypothesis_profile", None) is None:
        from hypothesis import settings

        settings.load_profile(default_profile())
    config.addinivalue_line("markers", "slow: converts models or runs many examples")
    config.addinivalue_line("markers", "parity: a release-gate property of the converted file")
    config.stash[_OPTIONS] = options_from_pytest(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    from signbart_parity.gate_options import parametrize

    parametrize(metafunc, metafunc.config.stash[_OPTIONS])


def pytest_sessionfinish(session: pytest.Session) -> None:
    from signbart_parity.gate_options import finish_report

    finish_report(session.config)


_OPTIONS = pytest.StashKey()


@pytest.fixture(autouse=True)
def _parity_junit_numbers(request):
    """After each gate test, its numbers go to the JUnit XML (as ``record_property``)."""
    yield
    from signbart_parity.gate_options import junit_numbers

    request.node.user_properties.extend(junit_numbers(request.config))


@pytest.fixture(scope="session")
def parity_options(pytestconfig: pytest.Config):
    """The validated gate options (``GateOptions``)."""
    return pytestconfig.stash[_OPTIONS]


@pytest.fixture(scope="session")
def parity_model(parity_options):
    """``(model, config)``: the checkpoint under test, loaded as PyTorch, eval mode."""
    from signbart_parity.checkpoint import load_signbart_model

    return load_signbart_model(parity_options.config, parity_options.checkpoint)


@pytest.fixture(scope="session")
def parity_export_source(parity_model):
    """The model that gets converted. The checkpoint's own, unless a test overrides this
    fixture (the self-tests convert deliberately broken models through it)."""
    return parity_model[0]


@pytest.fixture(scope="session")
def parity_session(pytestconfig, parity_options, parity_model, parity_export_source):
    """The ``GateSession``: exports per (seq_len, quantization) and the recorded results."""
    from signbart_parity.gate_options import register_session
    from signbart_parity.gate_session import GateSession

    model, config = parity_model
    session = GateSession(parity_options, model, config, export_model=parity_export_source)
    register_session(pytestconfig, session)
    return session

"""pytest plugin: the parity gate's options, hooks and fixtures (registered via ``pytest11``).

A good citizen in other projects' test runs: it registers its namespaced options and the
``parity`` marker, and does nothing else unless the gate is in play (a gate option named,
or gate tests collected). It loads no hypothesis profile, wraps no foreign test, and
imports torch, litert-torch and TFLite only inside the gate's own fixtures.
"""

from __future__ import annotations

import pytest

from signbart_parity.gate import options as gate_options
from signbart_parity.gate import run as gate_run
from signbart_parity.gate import state as gate_state
from signbart_parity.gate.corpus import deselect_empty_replays
from signbart_parity.gate.profiles import apply_profile
from signbart_parity.gate.shard import keep_shard
from signbart_parity.validate import printable


def pytest_addoption(parser: pytest.Parser) -> None:
    gate_options.add_options(parser)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    if gate_options.rooted_above_without_ini(early_config):
        # pytest rooted the run at a folder above the one it started in, only as the common
        # folder of the paths (no ini there): write no .pytest_cache into it, as
        # -p no:cacheprovider does (which blocks stepwise with it: stepwise needs the cache).
        for name in ("stepwise", "cacheprovider"):
            early_config.pluginmanager.set_blocked(name)
    # After the initial conftests registered their options: only now do we know whether
    # --checkpoint and --config are free for our aliases.
    result = yield
    gate_options.add_aliases(parser)
    return result


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "parity(check): a release-gate check of a .tflite file")
    config.pluginmanager.register(_ReportListener(config), "signbart-parity-listener")
    gate_run.configure(config)


class _ReportListener:
    """Hands pytest's reports of gate tests (and xdist workers' output) to the gate run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        gate_run.log_report(self.config, report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        gate_run.log_collection_error(self.config, report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        gate_run.collect_worker(self.config, node, error)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    lines = [gate_options.rootdir_note(config), gate_run.baseline_header(config)]
    return [line for line in lines if line] or None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if gate_options.uses_gate_parameters(metafunc):
        run = gate_state.start_for_collection(metafunc.config)
        gate_options.parametrize(metafunc, run.options)


@pytest.hookimpl(tryfirst=True)  # before hypothesis's own hook writes its constants cache
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    apply_profile(config, items)
    deselect_empty_replays(config, items)
    gate_run.label_items(items)
    keep_shard(config, items)


@pytest.hookimpl(tryfirst=True)  # workers: before xdist sends their output
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gate_run.finish(session, exitstatus)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lines = gate_run.summary_lines(config)
    if lines:
        terminalreporter.section("signbart-parity")
        for line in lines:  # names and messages read from files cannot drive the terminal
            terminalreporter.write_line(printable(line, limit=len(line)))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def parity_options(pytestconfig: pytest.Config):
    """The validated gate options (``GateOptions``)."""
    return gate_state.start(pytestconfig).options


@pytest.fixture(scope="session")
def parity_model(pytestconfig: pytest.Config):
    """``(model, config)``: the checkpoint under test, loaded as PyTorch, eval mode."""
    loaded = gate_state.start(pytestconfig).loaded
    return loaded.model, loaded.config


@pytest.fixture(scope="session")
def parity_export_source(parity_model):
    """The model that gets converted. The checkpoint's own, unless a test overrides this
    fixture (the self-tests convert deliberately broken models through it)."""
    return parity_model[0]


@pytest.fixture(scope="session")
def parity_session(pytestconfig, parity_options, parity_model, parity_export_source):
    """The ``GateSession``: exports per (seq_len, quantization) and the recorded rows."""
    from signbart_parity.gate.session import GateSession

    model, config = parity_model
    session = GateSession(parity_options, model, config, export_model=parity_export_source)
    gate_state.get_run(pytestconfig).session = session
    return session


@pytest.fixture
def parity_recorder(request, parity_session):
    """Records this test's comparisons; its numbers go to the JUnit XML afterwards."""
    from signbart_parity.gate.session import CaseRecorder

    recorder = CaseRecorder(parity_session)
    yield recorder
    request.node.user_properties.extend(recorder.junit_numbers() + recorder.corpus_properties)

"""Help text: every option and argument of every command says what it is."""

from __future__ import annotations

import argparse
import re

from signbart_parity.cli.main import build_parser
from signbart_parity.options import gate_help, gate_options


def walk(parser: argparse.ArgumentParser, path: str):
    """(command path, action) for every argument of ``parser`` and its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}")
        else:
            yield path, action


def described(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else action.dest


def test_every_option_of_every_command_has_help():
    missing = [
        f"{path} {described(action)}"
        for path, action in walk(build_parser(), "signbart-parity")
        if not action.help
    ]
    assert missing == []


ODD_DEFAULT = re.compile(r"\(default|\bdefault:|Default: '|Default: None|Default: \[\]")


def test_defaults_are_written_one_way():
    """'. Default: X' as the help's last sentence: never '(default: x)', 'default:', a quoted
    value or a Default that is no value (None, [])."""
    parser = build_parser()
    helps = [
        (f"{path} {described(action)}", parser._get_formatter()._expand_help(action))
        for path, action in walk(parser, "signbart-parity")
        if action.help
    ]
    helps += [(f"pytest --parity-{o.name}", gate_help(o)) for o in gate_options()]
    odd = [f"{where}: {text}" for where, text in helps if ODD_DEFAULT.search(text)]
    assert odd == []
    assert all(". Default: " in text for where, text in helps if "Default" in text)


def test_golden_create_seq_len_has_its_own_help():
    parser = build_parser()
    helps = {
        path: action.help
        for path, action in walk(parser, "signbart-parity")
        if "--seq-len" in action.option_strings
    }
    assert helps["signbart-parity golden create"] != helps["signbart-parity convert"]
    assert "golden" in helps["signbart-parity golden create"]


def test_runtimes_prepare_help_names_the_arm64_builds():
    parser = build_parser()
    prepare = next(
        action.help
        for path, action in walk(parser, "signbart-parity")
        if path.endswith("runtimes prepare") and action.dest == "specs"
    )
    assert "@arm64" in prepare

"""The one read boundary for the JSON and YAML documents the tool owns: bounded parsing,
then the document's schema (``schemas.py``, pydantic), then the hand-written readers.

Parsing refuses a document above ``MAX_JSON_BYTES``, nested deeper than ``MAX_NESTING`` or
holding more than ``MAX_JSON_NODES`` values, and YAML mappings with a key given twice (YAML
keeps the last one silently). Errors are ``InvalidDocument`` with a sentence a reader turns
into its own typed error, naming the file: every limit says which one it is.

``printable`` is how text read from a file reaches a terminal: control characters (ANSI and
OSC escapes included) shown escaped, and long values cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

import yaml

from signbart_parity.limits import (
    MAX_JSON_BYTES,
    MAX_JSON_NODES,
    MAX_NESTING,
    MAX_NPZ_MEMBER_BYTES,
    MAX_NPZ_MEMBERS,
    MAX_NPZ_TOTAL_BYTES,
    MAX_PRINTED_CHARS,
    LimitExceeded,
    walk_limits,
)


class InvalidDocument(ValueError):
    """A JSON or YAML document that is malformed, beyond a limit, or off its schema."""


def parse_json(
    text: str | bytes, *, limit: int = MAX_JSON_BYTES, name: str = "JSON document"
) -> Any:
    """``text`` parsed as JSON within the size, depth and node limits.

    Raises:
        InvalidDocument: not JSON, or beyond a limit (named).
    """
    _check_length(text, limit, name)
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidDocument(f"is nested more than {MAX_NESTING} levels deep") from None
    except (ValueError, TypeError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise InvalidDocument(f"is not valid JSON{where}") from None
    _check_structure(value, name)
    return value


def parse_yaml(text: str, *, name: str = "YAML document") -> Any:
    """``text`` parsed as YAML (safe types only) within the limits, duplicate keys refused.

    Raises:
        InvalidDocument: not YAML, a duplicate key, or beyond a limit (named).
    """
    _check_length(text, MAX_JSON_BYTES, name)
    _check_flow_nesting(text)
    try:
        value = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except RecursionError:
        raise InvalidDocument(f"is nested more than {MAX_NESTING} levels deep") from None
    except yaml.YAMLError as exc:
        if isinstance(exc, _DuplicateKey):
            raise InvalidDocument(str(exc)) from None
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise InvalidDocument(f"is not valid YAML{line}") from None
    _check_structure(value, name)
    return value


def _check_flow_nesting(text: str) -> None:
    """Refuse deep ``[``/``{`` nesting before the parser sees it: PyYAML's scanner takes
    seconds on 100,000 open brackets before its recursion gives up (a bracket inside a quoted
    string counts too, which only a file nested beyond any real config can notice)."""
    depth = 0
    for bracket in _FLOW_BRACKETS.finditer(text):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_NESTING:
            raise InvalidDocument(f"is nested more than {MAX_NESTING} levels deep")


_FLOW_BRACKETS = re.compile(r"[\[\]{}]")


def validated(schema: type, data: Any, *, name: str) -> Any:
    """``data`` checked against a pydantic ``schema``: the model, or ``InvalidDocument``
    naming the first field that is wrong and why."""
    from pydantic import ValidationError

    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise InvalidDocument(
            f"is not a valid {name}: {printable(where, 80)}: {printable(first['msg'], 200)}"
        ) from None


def check_npz_archive(path: str | os.PathLike) -> None:
    """Refuse an .npz whose members would decompress beyond the limits, before numpy reads
    any: the sizes declared in the zip's directory are what reading may produce (Python's
    zipfile stops at the declared size), so a 2 MB zip bomb is refused at once.

    Raises:
        InvalidDocument: too many members or too many bytes (the limit is named).
        zipfile.BadZipFile, OSError: not a readable zip archive.
    """
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if len(members) > MAX_NPZ_MEMBERS:
            raise InvalidDocument(
                f"holds {len(members):,} members, above the limit of {MAX_NPZ_MEMBERS:,}"
            )
        total = sum(member.file_size for member in members)
        for member in members:
            if member.file_size > MAX_NPZ_MEMBER_BYTES or total > MAX_NPZ_TOTAL_BYTES:
                raise InvalidDocument(
                    f"member {printable(member.filename, 80)!r} would decompress to "
                    f"{member.file_size:,} bytes ({total:,} in all), above the .npz limit of "
                    f"{MAX_NPZ_MEMBER_BYTES:,} bytes per member and {MAX_NPZ_TOTAL_BYTES:,} in all"
                )


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: Any, limit: int = MAX_PRINTED_CHARS) -> str:
    """``text`` safe for a terminal: control characters (ANSI/OSC escapes, bidi overrides,
    carriage returns) shown as ``\\x1b``-style escapes, and cut to ``limit`` characters."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text) - limit:,} more characters)"
    return _CONTROL.sub(lambda match: ascii(match.group())[1:-1], text)


def _check_length(text: str | bytes, limit: int, name: str) -> None:
    if len(text) > limit:
        raise InvalidDocument(
            f"is {len(text):,} bytes, above the {name} size limit of {limit:,} bytes"
        )


def _check_structure(value: Any, name: str) -> None:
    try:
        walk_limits(value, depth=MAX_NESTING, nodes=MAX_JSON_NODES, name=name)
    except LimitExceeded as exc:
        raise InvalidDocument(str(exc)) from None


class _TooDeep(RecursionError):
    """Raised while composing a YAML node nested deeper than ``MAX_NESTING``."""


class _DuplicateKey(yaml.YAMLError):
    """A YAML mapping gives one key twice."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping key given twice, and stops composing past
    ``MAX_NESTING`` levels (the parser reads lazily, so a deep file is refused at once)."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise _TooDeep()
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base loader explains it
                break
            if duplicate:
                line = key_node.start_mark.line + 1
                raise _DuplicateKey(
                    f"gives the key {printable(key, 80)!r} twice (line {line}); keep one"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class _EscapingStream:
    """A text stream that writes control characters (all but newline and tab) escaped."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(_TERMINAL_CONTROL.sub(_escape, text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def escaping(stream):
    """``stream`` writing control characters escaped (as within ``escaped_terminal``)."""
    return _EscapingStream(stream)


def _escape(match: re.Match) -> str:
    return ascii(match.group())[1:-1]


@contextlib.contextmanager
def escaped_terminal() -> Iterator[None]:
    """Within this block, what Python prints to stdout and stderr cannot drive the terminal:
    an ANSI or OSC escape (or a carriage return) read from a file and printed in a message
    shows as ``\\x1b[...`` instead of recolouring, moving the cursor or faking a line. The
    tool itself prints no control characters."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = escaping(sys.stdout), escaping(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved

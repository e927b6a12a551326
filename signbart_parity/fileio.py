"""Atomic file writes: a reader sees the old file or the complete new one, never a half."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from signbart_parity.interrupts import raise_if_terminated


@contextlib.contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed and
    ``destination`` is left untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial"
    )
    os.close(handle)
    temp = Path(temp_name)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    try:
        yield temp
        raise_if_terminated()  # a SIGTERM whose exception was lost must not commit the file
        os.replace(temp, destination)
    finally:
        temp.unlink(missing_ok=True)


def write_text_atomic(destination: str | Path, text: str) -> None:
    with atomic_path(destination) as temp:
        temp.write_text(text, encoding="utf-8")


def write_json_atomic(destination: str | Path, data: Any) -> None:
    write_text_atomic(destination, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_text(path: Path, error: type[Exception], *, missing: str, unreadable: str) -> str:
    """The file's UTF-8 text, or ``error`` with one sentence naming the file: ``missing``
    when it does not exist, ``unreadable`` (formatted with ``{reason}``) otherwise."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: {unreadable.format(reason=exc)}") from None


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_directory(destination: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``destination``; rename it into place on
    success. On any exception the folder is removed and ``destination`` is not created."""
    import shutil

    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}."))
    umask = os.umask(0)  # mkdtemp makes 0700 folders; give the one a plain mkdir() would
    os.umask(umask)
    os.chmod(temp, 0o777 & ~umask)
    try:
        yield temp
        raise_if_terminated()
        os.replace(temp, destination)
    finally:
        shutil.rmtree(temp, ignore_errors=True)

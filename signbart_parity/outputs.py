"""Output paths, checked before any work starts: an output never clobbers an input.

Every command that writes (convert, golden create, report merge, verify/evaluate
``--report``) resolves its output here first, so a bad path costs one line and exit 2,
not a traceback after a whole conversion. ``convert --output d/`` (or an existing folder)
writes ``d/<default name>``, as ``cp`` does: that is what a user typing a folder means.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from signbart_parity.errors import OutputPathError


def output_file(
    raw: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    default_name: str | None = None,
) -> Path:
    """The file to write for ``raw``, refused now if writing it would fail or destroy an input.

    A trailing slash or an existing folder means "into this folder" when ``default_name``
    is given; without one, a folder is refused.

    Raises:
        OutputPathError: empty, a folder, read-only, unwritable, or one of ``inputs``.
    """
    text = os.fspath(raw)
    if not text.strip():
        raise OutputPathError("the output path is empty: give a file name, e.g. model.tflite.")
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        if default_name is None:
            raise OutputPathError(f"{path}: is a folder; give a file name inside it.")
        path = path / default_name
        if path.is_dir():
            raise OutputPathError(f"{path}: is a folder; give another output file name.")
    _refuse_inputs(path, inputs)
    if path.exists() and not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise OutputPathError(f"{path}: is read-only; make it writable or choose another path.")
    _probe_folder(path.parent)
    return path


def output_folder(
    raw: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    files: Iterable[str] = (),
) -> Path:
    """A folder that report files (named ``files``) go into, refused now if it cannot be
    written or if one of those files is one of ``inputs``.

    Raises:
        OutputPathError: empty, an existing file, unwritable, or one of ``inputs``.
    """
    text = os.fspath(raw)
    if not text.strip():
        raise OutputPathError("the report folder is empty: give a folder name, e.g. reports/.")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path}: is a file, not a folder; give a folder for the report.")
    inputs = list(inputs)
    for target in (path, *(path / name for name in files)):
        _refuse_inputs(target, inputs)
    _probe_folder(path)
    return path


def _refuse_inputs(path: Path, inputs: Iterable[str | os.PathLike | None]) -> None:
    for given in inputs:
        if given is None:
            continue
        source = Path(given)
        if _same_file(path, source):
            raise OutputPathError(
                f"{path}: is the input {source}; writing it would destroy the input: "
                "choose another output path."
            )


def _same_file(a: Path, b: Path) -> bool:
    """Same path once symlinks resolve, or the same inode (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def _probe_folder(folder: Path) -> None:
    """Refuse a folder that cannot take a new file: its first existing ancestor must be a
    writable folder (a real file is created and removed there: permission bits alone do
    not tell, e.g. on a read-only mount)."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"{existing}: is a file, so nothing can be written below it.")
    try:
        handle, name = tempfile.mkstemp(dir=existing, prefix=".signbart-parity-probe-")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputPathError(
            f"{existing}: cannot write here ({reason}); choose a writable output folder."
        ) from None
    os.close(handle)
    os.unlink(name)

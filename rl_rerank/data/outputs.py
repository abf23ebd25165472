"""Check where a command will write before it does any work: one place, called by every command.

A command lists its input paths and the files/folders it will write; `check_outputs` raises one UserError
line when an output is a folder where a file is expected (or the reverse), is read-only, sits on a file
system that refuses writes, equals another output, or is (or would overwrite a file inside) an input. So a
typo like `rerank --output requests.json` fails in milliseconds instead of after an hour of reranking, and
never destroys the input.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from rl_rerank.errors import UserError

PathLike = str | os.PathLike


def _real(path: PathLike) -> Path:
    """Absolute path with symlinks resolved as far as they exist (the file it would really write)."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _read_only(st: os.stat_result) -> bool:
    """No write bit for anyone: read-only by intent (root could still write, but the user said no)."""
    return not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    return folder == path or folder in path.parents


def _check_writable_folder(folder: Path, what: str, shown: PathLike) -> None:
    """`folder` (or its nearest existing ancestor, which the command would create it in) accepts new files."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserError(f"{shown}: cannot write {what} there, {probe} is a file, not a folder")
    try:
        st = probe.stat()
    except OSError as exc:
        raise UserError(f"{shown}: cannot write {what} there ({exc.strerror})") from None
    if _read_only(st):
        raise UserError(f"{shown}: cannot write {what} there, folder {probe} is read-only")
    try:
        with tempfile.TemporaryFile(dir=probe):  # O_TMPFILE where supported: leaves no name behind
            pass
    except OSError as exc:
        reason = "read-only file system" if exc.errno == 30 else (exc.strerror or str(exc))
        raise UserError(f"{shown}: cannot write {what} there, folder {probe} refuses new files ({reason})") from None


def check_outputs(files: Iterable[PathLike | None] = (), folders: Iterable[PathLike | None] = (),
                  inputs: Iterable[PathLike | None] = ()) -> None:
    """Raise UserError (one line) unless every output can be written without touching an input.

    files:   files the command writes (atomically); None entries are skipped (optional outputs).
    folders: folders the command writes into (created when missing).
    inputs:  files or folders the command reads; None or non-existing entries (hub ids) are skipped.
             An output may not equal an input, and may not replace an existing file inside an input folder.
    """
    ins = [(p, _real(p)) for p in inputs if p is not None and os.path.exists(os.fspath(p))]
    seen: dict[Path, PathLike] = {}
    for shown in files:
        if shown is None:
            continue
        path = _real(shown)
        if path in seen:
            raise UserError(f"{shown}: given twice as an output (also as {seen[path]}); each output needs its own path")
        seen[path] = shown
        for shown_in, real_in in ins:
            if _same(path, real_in) or (real_in.is_dir() and path.is_file() and _inside(path, real_in)):
                raise UserError(f"{shown}: would overwrite the input {shown_in}; write the output elsewhere")
        if path.is_dir():
            raise UserError(f"{shown}: is a folder; expected a file path to write")
        if path.exists() and _read_only(path.stat()):
            raise UserError(f"{shown}: is read-only; choose another output path or make it writable")
        _check_writable_folder(path.parent, "a file", shown)
    for shown in folders:
        if shown is None:
            continue
        path = _real(shown)
        if path.exists() and not path.is_dir():
            raise UserError(f"{shown}: is a file; expected a folder to write into")
        for shown_in, real_in in ins:
            if _same(path, real_in):
                raise UserError(f"{shown}: is the input {shown_in}; write the output into another folder")
        _check_writable_folder(path, "into this folder", shown)


__all__ = ["check_outputs"]

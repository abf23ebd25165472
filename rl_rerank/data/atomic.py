"""Atomic writes: outputs appear whole or not at all (temp file or folder beside the target, then rename).

Files go through atomic_open; folders (model exports, caches, converted models) through publish_folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Literal


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, obj, indent: int | None = 2) -> None:
    with atomic_open(path) as fh:
        json.dump(obj, fh, indent=indent, ensure_ascii=False)
        fh.write("\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def repair_torn_tail(path: str | Path) -> int:
    """Truncate an append-only log after its last newline; returns the bytes dropped.

    A process killed mid-append leaves a partial last line. Appending after it would glue the next record
    onto the fragment and lose both, so journals and caches call this before reading and appending.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        pos = size
        while pos > 0:
            step = min(1 << 16, pos)
            fh.seek(pos - step)
            block = fh.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = pos - step + nl + 1
                break
            pos -= step
        else:
            keep = 0
        if keep < size:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        return size - keep


# ------------------------------------------------------------------------------------------------ folders

MANIFEST = ".rl_rerank_export.json"  # in a merged folder: the files the last publish wrote (and may replace)


def publish_folder(out: str | Path, write: Callable[[Path], object],
                   existing: Literal["keep", "merge"] = "keep") -> Path:
    """Fill a private staging folder with `write(tmp)`, then publish it as `out`, so a half-written folder
    never looks finished and a failure leaves `out` as it was.

    A new `out` appears whole, in one rename. When `out` exists already (or another process published it
    while we wrote): existing="keep" keeps theirs and drops ours (caches: the same key means the same
    content); existing="merge" moves our files in one by one (each appears whole), see _merge_into: for
    user-facing outputs such as `export`, where the user may keep other files in the folder."""
    if existing not in ("keep", "merge"):
        raise ValueError(f"existing must be 'keep' or 'merge', got {existing!r}")
    out = Path(out)
    merge_now = existing == "merge" and out.is_dir()
    out.parent.mkdir(parents=True, exist_ok=True)
    # staged inside an existing folder for a merge, so the moves never cross a file system boundary
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out if merge_now else out.parent))
    try:
        write(tmp)
        if existing == "merge":
            write_json(tmp / MANIFEST, {"files": _files(tmp)})
        if not merge_now:
            try:
                tmp.rename(out)
                return out
            except OSError:
                if not out.is_dir():
                    raise
            if existing == "keep":
                return out
        _merge_into(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the staging folder this call created, never anything else
    return out


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _merge_into(staging: Path, out: Path) -> list[str]:
    """Move the staged files into `out`, file by file (os.replace: each file appears whole).

    Only files we write are touched: the staged files replace their namesakes, and files the previous publish
    listed in its MANIFEST but this one did not write are removed (no stale merged/ model beside a new
    adapter). Anything else in `out` (the user's notes, other runs) is left alone. Returns the files written."""
    from rl_rerank.errors import UserError

    written = [f for f in _files(staging) if f != MANIFEST]
    old: list[str] = []
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            old = [f for f in json.loads(manifest.read_text(encoding="utf-8")).get("files", []) if isinstance(f, str)]
        except (OSError, ValueError, AttributeError):
            old = []
    for rel in written:
        if (out / rel).is_dir():
            raise UserError(f"{out / rel}: is a folder where a file goes; move it or choose another --out")
    for rel in written:
        target = out / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target)
        except OSError as exc:
            raise UserError(f"{target}: cannot write it ({exc.strerror or exc})") from None
    for rel in sorted(set(old) - set(written)):
        target = out / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not target.is_file() or target.is_symlink():
            continue  # a manifest only ever names files inside `out`; anything else is not ours to delete
        target.unlink()
        if target.parent != out:
            with contextlib.suppress(OSError):  # only an emptied folder goes, never one holding other files
                target.parent.rmdir()
    write_json(manifest, {"files": written})
    return written

"""Shared low-level reading helpers: gzip-transparent line iteration and JSON with line numbers.

Every reader in rl_rerank.data goes through these so that a bad file always yields a DataError that names
the file, the 1-based line and what was expected, never a bare JSONDecodeError or KeyError.
"""

from __future__ import annotations

import bisect
import gzip
import json
import json.decoder
import json.scanner
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sized
from pathlib import Path
from typing import Any, TypeVar

from rl_rerank.errors import DataError, UserError, clip

_SPACE = re.compile(r"\s")


def open_text(path: str | Path, errors: str = "strict"):
    """Open a text file for reading; `.gz` files are decompressed on the fly. A UTF-8 byte-order mark
    (Windows editors write one) is dropped, so the first id never becomes '\\ufeff23849'."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found" if not path.exists() else "expected a file, found a folder")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors=errors)
    return open(path, encoding="utf-8-sig", errors=errors)


def iter_lines(path: str | Path, errors: str = "strict") -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) for every non-blank line; errors="replace" reads
    non-UTF-8 bytes as U+FFFD instead of raising."""
    with open_text(path, errors) as fh:
        lineno = 0
        try:
            for lineno, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield lineno, line
        except UnicodeDecodeError as exc:
            raise DataError(path, lineno + 1, f"UTF-8 text ({exc.reason})") from None
        except (OSError, EOFError) as exc:  # truncated or corrupt gzip
            raise DataError(path, lineno + 1, f"a readable (gzip) text file ({exc})") from None


def iter_jsonl(path: str | Path, skipped: list[int] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every line of a JSON-lines file (optionally gzipped): the one JSONL reader.

    Inputs are strict: the first line that is not a JSON object is a DataError naming file:line. Append-only
    caches and journals pass a `skipped` list instead: such lines (a crash's leftovers, a bad byte) go into it
    by number and are passed over, so the caller can count them and redo those items."""
    for lineno, line in iter_lines(path, "strict" if skipped is None else "replace"):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if skipped is None:
                raise DataError(path, lineno, f"one JSON object per line ({exc.msg} at column {exc.colno})") from None
            obj = None
        if not isinstance(obj, dict):
            if skipped is None:
                raise DataError(path, lineno, f"a JSON object, got {type(obj).__name__}")
            skipped.append(lineno)
            continue
        yield lineno, obj


def load_json(path: str | Path) -> Any:
    """A whole JSON document (BOM and gzip handled as everywhere); DataError naming the line on bad JSON."""
    with open_text(path) as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as exc:
            raise DataError(path, exc.lineno, f"valid JSON ({exc.msg} at column {exc.colno})") from None
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise DataError(path, None, f"a readable UTF-8 text file ({exc})") from None
        except RecursionError:
            raise DataError(path, None, "JSON nested less deeply") from None


def first_char(path: str | Path) -> str:
    """The first non-whitespace character of a file ('' when empty): tells a JSON list from JSON lines."""
    with open_text(path) as fh:
        try:
            while True:
                chunk = fh.read(4096)
                if not chunk:
                    return ""
                stripped = chunk.lstrip()
                if stripped:
                    return stripped[0]
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise DataError(path, 1, f"a readable UTF-8 text file ({exc})") from None


_WHITESPACE = re.compile(r"[ \t\n\r]*")  # what JSON allows between values (json.decoder's private WHITESPACE)


def _skip_whitespace(text: str, pos: int) -> int:
    m = _WHITESPACE.match(text, pos)
    return m.end() if m else pos


class LineDict(dict):
    """A dict that remembers the line its JSON object started on (for error messages)."""

    __slots__ = ("line",)
    line: int | None


def load_json_with_lines(path: str | Path) -> Any:
    """Parse a whole JSON document; every object comes back as a LineDict carrying its start line.

    Uses the pure-Python scanner (about 10x slower than json.loads, 0.1 s for a 3 MB file) because
    that is the only way to learn where nested objects start, which the error messages need.
    """
    with open_text(path) as fh:
        try:
            text = fh.read()
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise DataError(path, None, f"a readable UTF-8 text file ({exc})") from None
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def line_at(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    decoder = json.JSONDecoder()
    # The stdlib's pure-Python object parser, which typeshed leaves out (a private name of json.decoder).
    plain_object = json.decoder.JSONObject  # type: ignore[attr-defined]

    def parse_object(s_and_end, *args, **kwargs):
        start = s_and_end[1] - 1  # position of "{"
        obj, end = plain_object(s_and_end, *args, **kwargs)
        out = LineDict(obj)
        out.line = line_at(start)
        return out, end

    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        value, end = decoder.raw_decode(text, _skip_whitespace(text, 0))
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, f"valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise DataError(path, None, "JSON nested less deeply") from None
    rest = _skip_whitespace(text, end)
    if rest != len(text):
        raise DataError(path, line_at(rest), "end of JSON document (extra data)")
    return value


def line_of(obj: Any) -> int | None:
    return getattr(obj, "line", None)


def field(rec: Mapping, key: str, path: str | Path, line: int | None, kinds: tuple = (str,), what: str = "") -> Any:
    """rec[key], checked to be one of `kinds`; DataError naming the field otherwise."""
    if key not in rec:
        raise DataError(path, line, f"field {key!r}{what} (missing)")
    value = rec[key]
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        names = " or ".join(k.__name__ for k in kinds)
        raise DataError(path, line, f"field {key!r}{what} to be {names}, got {type(value).__name__}")
    return value


def as_id(value: Any, path: str | Path, line: int | None, key: str) -> str:
    """Ids may be strings or integers in the wild (rank_llm writes int qids); always str inside.

    An id with whitespace is refused: TREC runs and qrels split on whitespace, so the run we would write
    could not be read back."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(path, line, f"field {key!r} to be a string or integer id, got {type(value).__name__}")
    return check_id(str(value), path, line, key)


def check_id(value: str, path: str | Path, line: int | None, key: str) -> str:
    """A non-empty id without whitespace (TREC-safe), else DataError naming the field."""
    if not value:
        raise DataError(path, line, f"field {key!r} to be a non-empty id")
    if _SPACE.search(value):
        raise DataError(path, line, f"field {key!r} to be an id without whitespace, got {clip(value)}")
    return value


def writable_id(value: Any, path: str | Path, what: str = "id") -> str:
    """An id a writer may put in a TREC/TSV/JSON output, else UserError: never write a file we cannot read."""
    value = str(value)
    if not value or _SPACE.search(value):
        raise UserError(f"{path}: cannot write {what} {clip(value)}: ids must be non-empty and without whitespace")
    return value


def as_float(value: Any, path: str | Path, line: int | None, key: str) -> float:
    """A finite number (NaN or infinity would make every comparison in the query a tie or meaningless)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DataError(path, line, f"field {key!r} to be a number, got {clip(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise DataError(path, line, f"field {key!r} to be a number, got {clip(value)}") from None
    if not math.isfinite(number):
        raise DataError(path, line, f"field {key!r} to be a finite number, got {clip(value)}")
    return number


def finite_score(text: str, path: str | Path, line: int | None, where: str) -> float:
    """A finite score from a text column (TREC run column 5)."""
    try:
        number = float(text)
    except ValueError:
        raise DataError(path, line, f"a numeric score in {where}, got {clip(text)}") from None
    if not math.isfinite(number):
        raise DataError(path, line, f"a finite score in {where}, got {clip(text)}")
    return number


_Records = TypeVar("_Records", bound=Sized)


def nonempty(records: _Records, path: str | Path, what: str) -> _Records:
    """An empty or blank input file is an error, not an empty result that ends in an empty run and exit 0."""
    if not records:
        raise DataError(path, None, f"no {what}: the file is empty or blank")
    return records


def unique_requests(requests: Iterable, path: str | Path, lines: Iterable[int | None]) -> list:
    """Requests with each qid once and each docid once per query; DataError at the repeating entry.

    Silently keeping the last copy would change which candidates are reranked and what the run holds."""
    seen: set[str] = set()
    out = []
    for req, line in zip(requests, lines, strict=True):
        qid = req.query.qid
        if qid in seen:
            raise DataError(path, line, f"each query id once, {clip(qid)} repeats")
        seen.add(qid)
        docs: set[str] = set()
        for c in req.candidates:
            if c.docid in docs:
                raise DataError(path, line, f"each docid once per query, {clip(c.docid)} repeats for query {clip(qid)}")
            docs.add(c.docid)
        out.append(req)
    return out

"""Errors the CLI turns into one clear line (exit code 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CLIP = 80  # longest value (id, score, text) an error line echoes


def clip(value: Any, limit: int = CLIP, quote: bool = True) -> str:
    """repr() of a value (str() with quote=False) cut to `limit` characters with an ellipsis and the full
    length, so an error about a 50 MB id stays one readable line."""
    text = repr(value) if quote else str(value)
    text = text.replace("\n", "\\n") if not quote else text
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


class UserError(Exception):
    """A problem the user can fix (bad config, missing file); shown as one line, no traceback."""


class DataError(UserError):
    """A data file does not have the expected shape. Names the file, the line and what was expected.

    `expected` is capped at a few hundred characters as a last guard: readers clip echoed values with
    clip(), but a message must never carry a whole file's worth of text."""

    def __init__(self, path: str | Path, line: int | None, expected: str):
        self.path = str(path)
        self.line = line
        self.expected = expected if len(expected) <= 4 * CLIP else clip(expected, 4 * CLIP, quote=False)
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {self.expected}")


class ConfigError(UserError):
    """A recipe/config is invalid: unknown key, unregistered reward, missing stage-1 output, ..."""

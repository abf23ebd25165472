"""Errors the CLI turns into one clear line (exit code 2)."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem the user can fix (bad config, missing file); shown as one line, no traceback."""


class DataError(UserError):
    """A data file does not have the expected shape. Names the file, the line and what was expected."""

    def __init__(self, path: str | Path, line: int | None, expected: str):
        self.path = str(path)
        self.line = line
        self.expected = expected
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {expected}")


class ConfigError(UserError):
    """A recipe/config is invalid: unknown key, unregistered reward, missing stage-1 output, ..."""

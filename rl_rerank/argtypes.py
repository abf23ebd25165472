"""argparse `type=` checkers for numeric options: a bad count is an argparse error (one line, exit 2).

Plain `type=int` accepts `--top-k 0` or `--batch-size -3`, which Python then silently turns into an empty
slice or a crash deep inside the run. Every numeric option of every command uses one of these instead
(tests/test_cli_options.py walks the parsers and checks it).
"""

from __future__ import annotations

import argparse
import math


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]!r}")
    return value


def positive_int(text: str) -> int:
    """A count: 1 or more."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """0 or more (for options where 0 has a documented meaning)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def at_least(minimum: int):
    """An integer >= `minimum` (e.g. a setwise comparison needs at least 2 documents)."""

    def check(text: str) -> int:
        value = _int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    check.__name__ = f"at_least_{minimum}"
    check.minimum = minimum  # type: ignore[attr-defined]
    return check


def any_int(text: str) -> int:
    """Any integer (seeds)."""
    return _int(text)


def non_negative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def unit_float(text: str) -> float:
    """A weight or threshold in [0, 1]."""
    value = _float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value}")
    return value


__all__ = ["positive_int", "non_negative_int", "at_least", "any_int", "non_negative_float", "unit_float"]

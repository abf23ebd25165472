"""Numbers inside answers (scores, document labels): ASCII digits only, rounded, clipped, never huge."""

from __future__ import annotations

import math
import re

_INT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # ASCII digits only: "٧" or "７" is not a score


def to_int(token: str, lo: int, hi: int) -> tuple[int, bool]:
    """Round a numeric string and clip it to [lo, hi]; returns (value, changed). Safe for huge numbers.

    Leading zeros are ignored when sizing the number ("0000000000005" is 5, not a huge value clipped to hi);
    callers report them as a repair (see leading_zeros).
    """
    negative = token.startswith("-")
    digits = token.lstrip("-").split(".")[0].lstrip("0")
    if len(digits) > 9:  # beyond any score: avoid int() on thousands of digits
        return (lo if negative else hi), True
    number = float(token)
    value = int(math.floor(number + 0.5)) if number >= 0 else -int(math.floor(-number + 0.5))
    clipped = min(hi, max(lo, value))
    return clipped, (clipped != number)


def leading_zeros(token: str) -> bool:
    """"05", "-007", "00.5": an integer part with a redundant leading zero (a repair, never a clean answer)."""
    whole = token.lstrip("-").split(".")[0]
    return len(whole) > 1 and whole.startswith("0")


def first_number(text: str) -> str | None:
    match = _INT.search(text)
    return match.group(0) if match else None


def label_number(digits: str) -> int:
    """An ASCII digit string as a document label; 0 (no document) when it has more than 9 significant digits."""
    significant = digits.lstrip("0")
    return int(significant) if 0 < len(significant) <= 9 else 0

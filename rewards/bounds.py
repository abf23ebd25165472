"""What a reward returns: finite floats inside its documented range (rl_rerank.rewards.RANGES)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def finite(values: Sequence[float], lo: float, hi: float) -> list[float]:
    """Last line of defence: every reward is a finite float in its documented range."""
    out = []
    for v in values:
        v = float(v)
        out.append(lo if not math.isfinite(v) else min(hi, max(lo, v)))
    return out

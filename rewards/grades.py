"""Judged grade -> 0..max_score score: the one mapping SFT targets and the pointwise rewards share.

Pure (no torch, no training imports) so rewards can use it; rl_rerank.datagen.examples imports it from here.
Rule: `grade_map` when given (an explicit {grade: score}), else round-half-up(max_score * g / G) with G the
highest grade of the qrels: binary BEIR 1 -> 10; TREC DL 0-3: 1 -> 3, 2 -> 7, 3 -> 10. Unjudged (None) or
g <= 0 -> 0 (or grade_map[0] when the map names it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from rl_rerank.errors import ConfigError


def grade_to_score(grade: int | None, max_grade: int, grade_map: Mapping[int, int] | None = None,
                   max_score: int = 10) -> int:
    """Judged grade -> 0..max_score target (module docstring gives the rule)."""
    if grade is None or grade <= 0:
        return int(grade_map.get(0, 0)) if grade_map and grade is not None else 0
    if grade_map is not None:
        if grade not in grade_map:
            raise ConfigError(f"grade_map has no entry for grade {grade}; it maps {sorted(grade_map)}")
        return max(0, min(max_score, int(grade_map[grade])))
    return max(0, min(max_score, math.floor(max_score * grade / max(1, max_grade) + 0.5)))

"""Ranking paradigms side by side behind one interface (see base.Paradigm): pick one by name.

    get_paradigm("pointwise", reasoning=True, max_score=10)
"""

from __future__ import annotations

from rl_rerank.errors import ConfigError
from rl_rerank.paradigms.base import Paradigm, Parsed, ParseStats
from rl_rerank.paradigms.groupwise import Groupwise
from rl_rerank.paradigms.listwise import Listwise
from rl_rerank.paradigms.pointwise import Pointwise
from rl_rerank.paradigms.setwise import Setwise

PARADIGMS: dict[str, type[Paradigm]] = {
    "pointwise": Pointwise,
    "listwise": Listwise,
    "setwise": Setwise,
    "groupwise": Groupwise,
}


def get_paradigm(name: str, **kwargs) -> Paradigm:
    """Build a paradigm by name; ConfigError naming the choices for an unknown name or option."""
    cls = PARADIGMS.get(name)
    if cls is None:
        raise ConfigError(f"unknown paradigm {name!r}; choose one of: {', '.join(PARADIGMS)}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"paradigm {name!r}: {exc}") from None


__all__ = ["PARADIGMS", "Paradigm", "ParseStats", "Parsed", "get_paradigm", "Pointwise", "Listwise", "Setwise",
           "Groupwise"]

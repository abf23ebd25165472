"""Ranking paradigms side by side behind one interface (see base.Paradigm): pick one by name.

    get_paradigm("pointwise", reasoning=True, max_score=10)

Every module of this package is imported here, and a module's `@register_paradigm` class joins `PARADIGMS`:
adding a paradigm is adding its module (class, builder hook, strategy hook) and its template
(templates/<name>.txt), nothing else. Code outside the package registers the same way, before it names it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from rl_rerank.errors import ConfigError
from rl_rerank.paradigms.base import PARADIGMS, Paradigm, Parsed, ParseStats, register_paradigm
from rl_rerank.paradigms.groupwise import Groupwise
from rl_rerank.paradigms.listwise import Listwise
from rl_rerank.paradigms.pointwise import Pointwise
from rl_rerank.paradigms.setwise import Setwise

for _module in pkgutil.iter_modules(__path__):  # any other module of the package registers its paradigm
    importlib.import_module(f"{__name__}.{_module.name}")


# The shipped paradigms lead choices and messages in the papers' order; others follow in registration order.
SHIPPED_ORDER = ("pointwise", "listwise", "setwise", "groupwise")


def paradigm_names() -> list[str]:
    """Registered names, for command-line choices and messages (read when asked, so later registrations count)."""
    return [n for n in SHIPPED_ORDER if n in PARADIGMS] + [n for n in PARADIGMS if n not in SHIPPED_ORDER]


def paradigm_class(name: str) -> type[Paradigm]:
    """The class registered as `name`; ConfigError naming the choices otherwise."""
    cls = PARADIGMS.get(name)
    if cls is None:
        raise ConfigError(f"unknown paradigm {name!r}; choose one of: {', '.join(paradigm_names())}")
    return cls


def paradigm_options(name: str) -> frozenset[str]:
    """Keyword options the paradigm's constructor takes (e.g. max_score), so callers pass only those."""
    return frozenset(inspect.signature(paradigm_class(name)).parameters)


def get_paradigm(name: str, **kwargs) -> Paradigm:
    """Build a paradigm by name; ConfigError naming the choices for an unknown name or option."""
    cls = paradigm_class(name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"paradigm {name!r}: {exc}") from None


__all__ = ["PARADIGMS", "Paradigm", "ParseStats", "Parsed", "get_paradigm", "paradigm_class", "paradigm_names",
           "paradigm_options", "register_paradigm", "Pointwise", "Listwise", "Setwise", "Groupwise"]

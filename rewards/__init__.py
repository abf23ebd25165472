"""Reward library: pure functions `f(completions, **columns) -> list[float]` picked by name.

    funcs, weights = build_reward_funcs({"erank": 1.0, "format_pointwise": 0.1}, reasoning=False)
    GRPOTrainer(..., reward_funcs=funcs, args=GRPOConfig(reward_weights=weights, ...))

No torch or trl import here: rewards run anywhere, and tests need no model.
Each name maps to a factory (`FACTORIES`) whose keyword options configure it; `REWARDS` holds the default
instance of each (reasoning on, the papers' setting).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rl_rerank.errors import ConfigError
from rl_rerank.rewards.format import make_format
from rl_rerank.rewards.groupwise import make_grouprank
from rl_rerank.rewards.listwise import make_rearank, make_reasonrank
from rl_rerank.rewards.pointwise import make_erank, make_pointwise_error
from rl_rerank.rewards.setwise import make_setwise

RewardFn = Callable[..., list[float]]


def _format_for(paradigm: str) -> Callable[..., RewardFn]:
    def factory(reasoning: bool = True, max_score: int = 10) -> RewardFn:
        return make_format(paradigm, reasoning=reasoning, max_score=max_score)

    factory.__doc__ = f"Format reward for {paradigm} completions (see rewards.format)."
    return factory


FACTORIES: dict[str, Callable[..., RewardFn]] = {
    "erank": make_erank,
    "pointwise_error": make_pointwise_error,
    "grouprank": make_grouprank,
    "reasonrank": make_reasonrank,
    "rearank": make_rearank,
    "setwise": make_setwise,
    "format": make_format,
    "format_pointwise": _format_for("pointwise"),
    "format_listwise": _format_for("listwise"),
    "format_setwise": _format_for("setwise"),
    "format_groupwise": _format_for("groupwise"),
}

#: Range [lo, hi] of each reward with its default constants (tests check every output lies inside).
RANGES: dict[str, tuple[float, float]] = {
    "erank": (-1.0, 1.0), "pointwise_error": (-1.0, 1.0), "grouprank": (-0.5, 1.3), "reasonrank": (-1.0, 1.3),
    "rearank": (-0.8, 1.0), "setwise": (0.0, 1.0), "format": (0.0, 1.0), "format_pointwise": (0.0, 1.0),
    "format_listwise": (0.0, 1.0), "format_setwise": (0.0, 1.0), "format_groupwise": (0.0, 1.0),
}

REWARDS: dict[str, RewardFn] = {name: factory() for name, factory in FACTORIES.items()}


def _factory(name: str) -> Callable[..., RewardFn] | None:
    """FACTORIES[name], or the format reward of a paradigm registered later (format_<paradigm>)."""
    factory = FACTORIES.get(name)
    if factory is None and name.startswith("format_"):
        from rl_rerank.paradigms import PARADIGMS

        if name[len("format_"):] in PARADIGMS:
            factory = _format_for(name[len("format_"):])
    return factory


def reward_names() -> list[str]:
    """Every reward name: the registered ones and format_<paradigm> for each registered paradigm."""
    from rl_rerank.paradigms import paradigm_names

    return list(FACTORIES) + [f"format_{p}" for p in paradigm_names() if f"format_{p}" not in FACTORIES]


def get_reward(name: str, **options: Any) -> RewardFn:
    """The reward called `name`, built with `options` (e.g. reasoning=False); ConfigError if unknown."""
    factory = _factory(name)
    if factory is None:
        raise ConfigError(f"unknown reward {name!r}; registered rewards: {', '.join(reward_names())}")
    if not options and name in REWARDS:
        return REWARDS[name]
    try:
        return factory(**options)
    except TypeError as exc:
        raise ConfigError(f"reward {name!r}: {exc}") from None


def build_reward_funcs(spec: Mapping[str, Any] | Sequence[str], options: Mapping[str, Mapping[str, Any]] | None = None,
                       **common: Any) -> tuple[list[RewardFn], list[float]]:
    """(reward_funcs, reward_weights) for TRL's GRPOTrainer.

    spec: {name: weight}, {name: {"weight": w, **options}} or a list of names (weight 1.0 each).
    options: per-reward keyword options, {name: {...}}. common: options given to every reward whose factory
    accepts them (e.g. reasoning=cfg.reasoning, max_score=10). Precedence: spec dict > options > common.
    """
    if isinstance(spec, Mapping):
        items = [(str(k), v) for k, v in spec.items()]
    elif isinstance(spec, (list, tuple)):
        items = [(str(k), 1.0) for k in spec]
    else:
        raise ConfigError(f"rewards must be a mapping name -> weight or a list of names, got {type(spec).__name__}")
    if not items:
        raise ConfigError(f"no reward given; registered rewards: {', '.join(reward_names())}")
    options = dict(options or {})
    unknown = [k for k in [n for n, _ in items] + list(options) if _factory(k) is None]
    if unknown:
        raise ConfigError(f"unknown reward(s) {', '.join(sorted(set(unknown)))}; "
                          f"registered rewards: {', '.join(reward_names())}")
    funcs, weights = [], []
    for name, entry in items:
        own: dict[str, Any] = {}
        if isinstance(entry, Mapping):
            own = {k: v for k, v in entry.items() if k != "weight"}
            entry = entry.get("weight", 1.0)
        if isinstance(entry, bool):
            raise ConfigError(f"reward {name!r}: weight must be a number, got {entry!r}")
        try:
            weight = float(entry)
        except (TypeError, ValueError):
            raise ConfigError(f"reward {name!r}: weight must be a number, got {entry!r}") from None
        factory = _factory(name)
        assert factory is not None  # unknown names were refused above
        params = inspect.signature(factory).parameters
        opts = {k: v for k, v in common.items() if k in params}
        opts.update(options.get(name, {}))
        opts.update(own)
        funcs.append(get_reward(name, **opts))
        weights.append(weight)
    return funcs, weights


__all__ = ["FACTORIES", "RANGES", "REWARDS", "build_reward_funcs", "get_reward", "reward_names", "make_erank",
           "make_format", "make_grouprank", "make_pointwise_error", "make_rearank", "make_reasonrank", "make_setwise"]

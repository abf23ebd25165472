"""verl reward adapter: `compute_score` for verl's `custom_reward_function`, calling our reward functions.

    custom_reward_function.path=pkg://rl_rerank.rewards.verl  custom_reward_function.name=compute_score

verl 0.9.1 scores one rollout at a time (its reward loop calls `compute_score(data_source, solution_str,
ground_truth, extra_info)` per sample, over chunks spread across reward workers), so every per-sample reward
works here: reasonrank, rearank, grouprank, setwise, pointwise_error, format and format_<paradigm>. ERank's
reward pools the N documents x G rollouts of a query and ranks them together; no reward manager of verl 0.9.1
sees a whole query group (the legacy `BatchRewardManager` is not wired into the 0.9.1 trainer), so erank stays
on the TRL backend and this adapter refuses it with that message.

What to score comes from the row (written by `rl-rerank export-rl-data --format verl`): `extra_info.settings`
(JSON: rewards and weights, reward options) and `extra_info.columns` (JSON: the row's reward columns exactly as
TRL passes them). The result is a dict: `score` = sum(weight x reward), plus each reward by name (verl logs the
extra keys). Imports nothing beyond the reward package: it loads in verl's own environment without torch/trl.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from rl_rerank.rewards import FACTORIES, RewardFn, build_reward_funcs

#: Rewards that need every rollout of a query in one call (pooled ranking): not possible through verl 0.9.1.
POOLED_REWARDS = {"erank"}


@lru_cache(maxsize=64)
def _settings(text: str) -> dict:
    return json.loads(text)


@lru_cache(maxsize=256)
def _reward(name: str, options_json: str) -> RewardFn:
    """Our registered reward `name` built with the recipe's options (cached: rows repeat the same settings)."""
    opts = json.loads(options_json)
    funcs, _ = build_reward_funcs({name: 1.0}, options=opts["reward_args"], **opts["common"])
    return funcs[0]


def _rewards_of(settings: dict, override: Any) -> dict[str, float]:
    if override is None:
        return {str(k): float(v) for k, v in settings["rewards"].items()}
    if isinstance(override, str):
        return {override: 1.0}
    return {str(k): float(v) for k, v in dict(override).items()}


def score_parts(solution_str: str, extra_info: dict | None, ground_truth: Any = None,
                rewards: Any = None) -> dict[str, float]:
    """{reward name: value} for one completion; `rewards` (a name or {name: weight}) overrides the row's."""
    info = extra_info or {}
    if "settings" not in info:
        if rewards is None:
            raise ValueError("rl_rerank.rewards.verl: the row has no extra_info.settings (rows come from "
                             "`rl-rerank export-rl-data --format verl`); otherwise pass reward_kwargs.rewards")
        settings: dict = {"rewards": {}, "reward_args": {}, "common": {}}
    else:
        settings = _settings(info["settings"])
    names = _rewards_of(settings, rewards)
    pooled = sorted(set(names) & POOLED_REWARDS)
    if pooled:
        raise ValueError(f"reward {pooled[0]!r} ranks all rollouts of a query together; verl 0.9.1 scores one "
                         f"rollout at a time: train it with the TRL backend (`rl-rerank rl`)")
    unknown = sorted(n for n in names if n not in FACTORIES)
    if unknown:
        raise ValueError(f"unknown reward(s) {unknown}; registered: {', '.join(FACTORIES)}")
    if "columns" in info:
        columns = json.loads(info["columns"]) if isinstance(info["columns"], str) else dict(info["columns"])
    else:  # foreign rows: the ground truth is the graded labels in prompt order
        columns = {"labels": list(ground_truth or [])}
    batch = {k: [v] for k, v in columns.items()}
    options = json.dumps({"reward_args": settings.get("reward_args", {}), "common": settings.get("common", {})},
                         sort_keys=True)
    return {name: float(_reward(name, options)([solution_str], **batch)[0]) for name in names}


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                  rewards: Any = None, **kwargs: Any) -> dict[str, float]:
    """verl's per-sample reward: {"score": weighted sum, <reward name>: value, ...}.

    `rewards` arrives from `custom_reward_function.reward_kwargs.rewards` when set (a name or {name: weight});
    other keyword arguments verl adds (reward router address, tokenizer) are ignored.
    """
    parts = score_parts(solution_str, extra_info, ground_truth, rewards)
    info = extra_info or {}
    weights = _rewards_of(_settings(info["settings"]) if "settings" in info else {"rewards": {}}, rewards)
    total = 0.0
    for name, value in parts.items():
        total += weights[name] * value
    return {"score": total, **parts}


__all__ = ["POOLED_REWARDS", "compute_score", "score_parts"]

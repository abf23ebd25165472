"""Scores and labels of one prompt's documents -> the ranking and qrels the reward metrics take."""

from __future__ import annotations

from collections.abc import Sequence


def pessimistic_ranking(scores: Sequence[float], labels: Sequence[int]) -> list[int]:
    """Indices by score descending; among tied scores the least relevant first.

    A model gains nothing from ties: giving every document the same score ranks the positives last.
    """
    return sorted(range(len(scores)), key=lambda i: (-scores[i], labels[i], -i))


def qrels_of(labels: Sequence[int]) -> dict[int, int]:
    return {i: int(g) for i, g in enumerate(labels)}

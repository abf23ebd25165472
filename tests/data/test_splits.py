"""Hashed query splits: stable per query, near the requested share, independent of the other queries."""

from __future__ import annotations

import pytest

from rl_rerank.data.splits import in_split, split_of


def test_split_is_a_function_of_the_query_alone():
    qids = [str(i) for i in range(2000)]
    sides = {q: split_of(q, 0.2) for q in qids}
    assert {q: split_of(q, 0.2) for q in reversed(qids)} == sides
    share = sum(s == "dev" for s in sides.values()) / len(qids)
    assert 0.17 < share < 0.23
    assert any(split_of(q, 0.2, seed=1) != sides[q] for q in qids[:50])  # the seed reshuffles


def test_in_split_sides_partition_the_queries():
    for q in map(str, range(300)):
        assert in_split(q, "train", 0.3) != in_split(q, "dev", 0.3)
        assert in_split(q, None, 0.3)
    assert not any(in_split(str(q), "dev", 0.0) for q in range(300))


def test_bad_split_arguments_fail():
    with pytest.raises(ValueError):
        split_of("1", 1.0)
    with pytest.raises(ValueError):
        in_split("1", "test", 0.2)

"""Fixtures for engine and strategy tests (fake engines live in tests/rerank_fakes.py)."""

from __future__ import annotations

import pytest
from rerank_fakes import GarbageEngine, OracleEngine

from rl_rerank.data import read_qrels, read_requests


@pytest.fixture(scope="session")
def dl20_requests(dl20_dir):
    return read_requests(dl20_dir / "bm25-top100.json")


@pytest.fixture(scope="session")
def dl20_qrels(dl20_dir):
    return read_qrels(dl20_dir / "qrels.dl20-passage.txt")


@pytest.fixture
def oracle():
    return OracleEngine


@pytest.fixture
def garbage():
    return GarbageEngine

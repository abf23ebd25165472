"""Reranking strategies (pointwise/listwise/setwise/groupwise), score fusion, resume cache, the batch loop."""

from rl_rerank.rerank.fusion import fuse, normalize
from rl_rerank.rerank.runner import RunOptions, rerank_requests
from rl_rerank.rerank.strategies import StrategySettings, StrategyStats, rerank_batch, windows

__all__ = ["fuse", "normalize", "RunOptions", "rerank_requests", "StrategySettings",
           "StrategyStats", "rerank_batch", "windows"]

"""Rerank many requests: top-k cut, chunks of queries through a strategy, resume cache, fusion, stats.

This is the loop behind `rl-rerank rerank` and `rl-rerank eval`; everything model-specific sits behind the
engine and the paradigm.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rl_rerank.data.types import Request, Run
from rl_rerank.engines.base import Engine
from rl_rerank.rerank.cache import ResultCache, request_key
from rl_rerank.rerank.fusion import fuse
from rl_rerank.rerank.strategies import StrategySettings, StrategyStats, rerank_batch


@dataclass
class RunOptions:
    top_k: int | None = 100  # rerank only the first-stage top-k; the rest stay below, in first-stage order
    chunk_queries: int = 16  # queries per strategy call (and per cache write)
    fusion: str = "zscore"
    fusion_weight: float = 0.0  # 0: reranker score only
    progress: bool = True


def cut(request: Request, top_k: int | None) -> tuple[Request, list]:
    """(request with the top-k candidates by first-stage rank/score, the rest)."""
    cands = list(request.candidates)
    if any(c.rank is not None for c in cands):
        cands.sort(key=lambda c: c.rank if c.rank is not None else 1 << 30)
    elif all(c.score is not None for c in cands):
        cands.sort(key=lambda c: -(c.score or 0.0))  # every score is set (checked above)
    k = len(cands) if top_k is None else top_k
    return Request(request.query, cands[:k]), cands[k:]


def final_scores(reranked: dict[str, float], tail: Sequence, first_stage: dict[str, float],
                 opts: RunOptions) -> dict[str, float]:
    scores = fuse(reranked, first_stage, opts.fusion, opts.fusion_weight)
    floor = min(scores.values()) if scores else 0.0
    for i, c in enumerate(tail):  # below every reranked document, first-stage order kept
        scores[c.docid] = floor - 1.0 - i
    return scores


@dataclass
class Job:
    """One query still to rerank: its index in the request list, the cut request, the tail, the cache key."""

    index: int
    head: Request
    tail: list
    key: str


def plan(requests: Sequence[Request], opts: RunOptions, config: str = "",
         cache: ResultCache | None = None) -> tuple[dict[int, dict[str, float]], list[list[Job]]]:
    """(results read from the cache by request index, the remaining jobs in chunks of opts.chunk_queries).

    The chunks are the unit of work for one process and for shards alike: a sharded run hands whole chunks
    to its workers, so every query is scored in the same batch as in a single process (same numbers).
    """
    results: dict[int, dict[str, float]] = {}
    jobs: list[Job] = []
    for i, req in enumerate(requests):
        head, tail = cut(req, opts.top_k)
        key = request_key(config, head)
        hit = cache.get(key) if cache is not None else None
        if hit is not None and set(hit) == {c.docid for c in head.candidates}:
            results[i] = hit
        else:
            jobs.append(Job(i, head, tail, key))
    size = max(1, opts.chunk_queries)
    return results, [jobs[s:s + size] for s in range(0, len(jobs), size)]


def assemble(requests: Sequence[Request], results: dict[int, dict[str, float]], opts: RunOptions) -> Run:
    """The run: reranked scores (fused with first-stage when asked), the tail below, per query."""
    run: Run = {}
    for i, req in enumerate(requests):
        head, tail = cut(req, opts.top_k)
        first = {c.docid: float(c.score if c.score is not None else -(c.rank or 0)) for c in req.candidates}
        run[req.query.qid] = final_scores(results[i], tail, first, opts)
    return run


def run_stats(requests: Sequence[Request], opts: RunOptions, computed: int, cached: int, docs_done: int,
              tokens: Sequence[int], wall: float, stats: StrategyStats) -> dict:
    return {
        "queries": len(requests), "queries_computed": computed, "queries_from_cache": cached,
        "documents": sum(min(len(r.candidates), opts.top_k or len(r.candidates)) for r in requests),
        "documents_computed": docs_done,
        "prompt_tokens": tokens[0], "completion_tokens": tokens[1], "engine_calls": tokens[2],
        # shared-prefix KV reuse (transformers engine): tokens not recomputed, prompts computed in full instead
        "prompt_tokens_reused": tokens[3], "prefix_reuse_fallbacks": tokens[4],
        "wall_s": round(wall, 3), "docs_per_s": round(docs_done / wall, 3) if wall > 0 else None,
        **stats.as_dict(),
    }


def rerank_chunk(engine: Engine, paradigm, chunk: Sequence[Job], settings: StrategySettings,
                 stats: StrategyStats) -> list[dict[str, float]]:
    return rerank_batch(engine, paradigm, [job.head for job in chunk], settings, stats)


def rerank_requests(engine: Engine, paradigm, requests: Sequence[Request], settings: StrategySettings,
                    opts: RunOptions, config: str = "", cache: ResultCache | None = None) -> tuple[Run, dict]:
    """Rerank `requests`; finished queries are read from / appended to `cache`. Returns (run, stats)."""
    start = time.perf_counter()
    before = engine.counter.snapshot()
    stats = StrategyStats()
    results, chunks = plan(requests, opts, config, cache)
    cached = len(results)
    docs_done = 0
    bar = _progress(len(requests), cached, opts.progress)
    try:
        for chunk in chunks:
            scores = rerank_chunk(engine, paradigm, chunk, settings, stats)
            for job, sc in zip(chunk, scores, strict=True):
                results[job.index] = sc
                docs_done += len(job.head.candidates)
            if cache is not None:
                cache.put_many((job.key, job.head.query.qid, sc) for job, sc in zip(chunk, scores, strict=True))
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    run = assemble(requests, results, opts)
    tokens = tuple(a - b for a, b in zip(engine.counter.snapshot(), before, strict=True))
    computed = sum(len(c) for c in chunks)
    out = run_stats(requests, opts, computed, cached, docs_done, tokens, time.perf_counter() - start, stats)
    return run, {**out, **cache_repairs(cache)}


def cache_repairs(cache: ResultCache | None) -> dict:
    """Repairs of the resume cache are counted in the stats, never silent."""
    if cache is None:
        return {}
    return {"cache_torn_bytes_dropped": cache.repaired_bytes, "cache_lines_skipped": cache.skipped}


def _progress(total: int, done: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, unit="query", desc="rerank", dynamic_ncols=True)


def cache_file(root: Path, config: str) -> Path:
    return Path(root) / f"{config[:24]}.jsonl"

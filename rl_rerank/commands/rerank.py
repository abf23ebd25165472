"""`rl-rerank rerank`: rerank a candidate file with a model (+ adapter) in one paradigm; resumable."""

from __future__ import annotations

from pathlib import Path

from rl_rerank.argtypes import non_negative_float, positive_int
from rl_rerank.errors import UserError

HELP = "rerank candidates (rank_llm requests or a TREC run + corpus) and write a TREC run"


def add_arguments(parser) -> None:
    parser.add_argument("--input", required=True,
                        help="requests (.json rank_llm hits / .jsonl candidates) or a TREC run (.trec/.run/.txt)")
    parser.add_argument("--corpus", default=None, help="with a TREC run: BEIR folder / corpus.jsonl or BRIGHT docs")
    parser.add_argument("--queries", default=None, help="with a TREC run: topics TSV or BEIR queries.jsonl")
    parser.add_argument("--output", required=True, help="TREC run to write (atomically)")
    parser.add_argument("--stats", default=None, help="stats JSON (default: OUTPUT.stats.json)")
    parser.add_argument("--tag", default="rl_rerank", help="run tag in the TREC file")
    from rl_rerank.commands._reranker import add_reranker_arguments

    add_reranker_arguments(parser)
    g = parser.add_argument_group("parallel (same run file as one process)")
    g.add_argument("--shards", type=positive_int, default=1,
                   help="local worker processes, one engine each (one GPU each when GPUs are visible)")
    g.add_argument("--shard-devices", default=None,
                   help="GPUs per worker: 0,1,2,3 (one each) or 0+1,2+3 (two each); default: round robin")
    g.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the workers as Ray actors: no ADDRESS starts a local Ray, 'auto' or host:port joins "
                        "a cluster; --shards sets the actor count (default: one per cluster GPU, else 2)")
    g.add_argument("--ray-actor-gpus", type=non_negative_float, default=None,
                   help="GPUs per Ray actor (default: 1 when the cluster has GPUs, else 0)")


def run(args) -> int:
    from rl_rerank.commands._reranker import reranker_options
    from rl_rerank.data import write_json, write_run
    from rl_rerank.data.outputs import check_outputs
    from rl_rerank.rerank.inputs import load_requests
    from rl_rerank.rerank.options import (
        build_engine,
        build_paradigm,
        cache_root,
        engine_name,
        open_cache,
        reranker_inputs,
        run_options,
        strategy_settings,
        with_recipe_budgets,
    )
    from rl_rerank.rerank.runner import rerank_requests

    if args.shards < 1:
        raise UserError(f"--shards must be at least 1, got {args.shards}")
    if args.ray is not None and args.engine == "auto":  # the driver cannot see the workers' GPUs
        raise UserError("--ray needs an explicit --engine (vllm on GPU nodes, transformers on CPU)")
    opts = with_recipe_budgets(reranker_options(args))
    stats_path = Path(args.stats) if args.stats else Path(str(args.output) + ".stats.json")
    check_outputs(files=[args.output, stats_path], folders=[cache_root(opts)] if opts.use_cache else [],
                  inputs=reranker_inputs(opts) + [args.input, args.corpus, args.queries])
    requests = load_requests(args.input, args.corpus, args.queries, opts.top_k)
    paradigm = build_paradigm(opts)
    settings = strategy_settings(opts)
    key, cache = open_cache(opts, paradigm, settings)
    if args.shards > 1 or args.ray is not None:
        run_, stats = _sharded(args, opts, requests, key, cache)
    else:
        engine = build_engine(opts)
        try:
            run_, stats = rerank_requests(engine, paradigm, requests, settings, run_options(opts), key, cache)
        finally:
            engine.close()
    write_run(args.output, run_, tag=args.tag)
    stats = {"input": str(args.input), "output": str(args.output), "engine": engine_name(opts),
             "model": opts.model, "adapter": opts.adapter, "paradigm": opts.paradigm, "reasoning": opts.reasoning,
             "settings": settings.as_dict(), "cache_key": key, **stats}
    write_json(stats_path, stats)
    p = stats["parse"]
    print(f"rerank: {stats['queries']} queries ({stats['queries_from_cache']} from cache), "
          f"{stats['documents_computed']} documents in {stats['wall_s']:.1f}s, "
          f"parse ok/repaired/failed {p['ok']}/{p['repaired']}/{p['failed']}, fallbacks {stats['fallbacks']} "
          f"-> {args.output}")
    return 0


def _sharded(args, opts, requests, key, cache):
    from dataclasses import replace

    from rl_rerank.rerank.options import engine_name, run_options
    from rl_rerank.rerank.shards import parse_devices, rerank_sharded

    opts = replace(opts, engine=engine_name(opts))  # resolved once: workers build what the cache key names
    shards = None if args.ray is not None and args.shards == 1 else args.shards  # Ray: one actor per GPU
    devices = None if args.ray is not None else parse_devices(args.shard_devices, args.shards)
    return rerank_sharded(opts, requests, run_options(opts), key, cache, shards=shards,
                          use_ray=args.ray is not None, ray_address=args.ray, devices=devices,
                          gpus_per_actor=args.ray_actor_gpus)


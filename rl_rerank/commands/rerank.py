"""`rl-rerank rerank`: rerank a candidate file with a model (+ adapter) in one paradigm; resumable."""

from __future__ import annotations

from pathlib import Path

HELP = "rerank candidates (rank_llm requests or a TREC run + corpus) and write a TREC run"


def add_arguments(parser) -> None:
    parser.add_argument("--input", required=True,
                        help="requests (.json rank_llm hits / .jsonl candidates) or a TREC run (.trec/.run/.txt)")
    parser.add_argument("--corpus", default=None, help="with a TREC run: BEIR folder / corpus.jsonl or BRIGHT docs")
    parser.add_argument("--queries", default=None, help="with a TREC run: topics TSV or BEIR queries.jsonl")
    parser.add_argument("--output", required=True, help="TREC run to write (atomically)")
    parser.add_argument("--stats", default=None, help="stats JSON (default: OUTPUT.stats.json)")
    parser.add_argument("--tag", default="rl_rerank", help="run tag in the TREC file")
    from rl_rerank.rerank.options import add_reranker_arguments

    add_reranker_arguments(parser)


def run(args) -> int:
    from rl_rerank.data import write_json, write_run
    from rl_rerank.rerank.inputs import load_requests
    from rl_rerank.rerank.runner import rerank_requests
    from rl_rerank.rerank.options import (build_engine, build_paradigm, engine_name, open_cache, run_options,
                                        strategy_settings)

    requests = load_requests(args.input, args.corpus, args.queries, args.top_k)
    paradigm = build_paradigm(args)
    settings = strategy_settings(args)
    key, cache = open_cache(args, paradigm, settings)
    engine = build_engine(args)
    try:
        run_, stats = rerank_requests(engine, paradigm, requests, settings, run_options(args), key, cache)
    finally:
        engine.close()
    write_run(args.output, run_, tag=args.tag)
    stats = {"input": str(args.input), "output": str(args.output), "engine": engine_name(args),
             "model": args.model, "adapter": args.adapter, "paradigm": args.paradigm, "reasoning": args.reasoning,
             "settings": settings.as_dict(), "cache_key": key, **stats}
    stats_path = Path(args.stats) if args.stats else Path(str(args.output) + ".stats.json")
    write_json(stats_path, stats)
    p = stats["parse"]
    print(f"rerank: {stats['queries']} queries ({stats['queries_from_cache']} from cache), "
          f"{stats['documents_computed']} documents in {stats['wall_s']:.1f}s, "
          f"parse ok/repaired/failed {p['ok']}/{p['repaired']}/{p['failed']}, fallbacks {stats['fallbacks']} "
          f"-> {args.output}")
    return 0

"""`rl-rerank eval`: rerank a benchmark's first stage and score it (TREC-DL, BEIR, BRIGHT, local folders)."""

from __future__ import annotations

from pathlib import Path

HELP = "evaluate a reranker on BRIGHT / TREC-DL / BEIR (first stage vs reranked, report + chart)"


def add_arguments(parser) -> None:
    parser.add_argument("--benchmark", action="append", required=True, metavar="NAME",
                        help="trec-dl-2019, trec-dl-2020, beir/<dataset>, bright, bright:task1,task2, or a local "
                             "folder; repeatable")
    parser.add_argument("--out", default="eval-out", help="folder for runs/, report.json, report.md, report.png")
    parser.add_argument("--measures", nargs="+", default=["nDCG@10"], help="ir_measures names (first one is charted)")
    parser.add_argument("--data-dir", default=None, help="local data (default: the shared data folder)")
    parser.add_argument("--first-stage", default=None,
                        help="first-stage run file (one set) or folder of <set>.trec runs; default BM25 top-k")
    parser.add_argument("--first-stage-k", type=int, default=100, help="first-stage depth (BM25 top-k)")
    parser.add_argument("--bright-docs", default=None, help="folder with BRIGHT <task>.jsonl documents")
    parser.add_argument("--bright-retrieval-query", choices=("original", "reasoning"), default="original",
                        help="query BM25 uses for BRIGHT (the reranker always gets the original query)")
    parser.add_argument("--online", action="store_true", help="fetch missing data from the hub via datasets")
    parser.add_argument("--max-queries", type=int, default=None, help="first N queries per set (smoke runs)")
    parser.add_argument("--no-rerank", action="store_true", help="score the first stage only (no model)")
    from rl_rerank.rerank.options import add_reranker_arguments

    add_reranker_arguments(parser)


def run(args) -> int:
    from rl_rerank.data import write_run
    from rl_rerank.eval.benchmarks import Sources, load_benchmark
    from rl_rerank.eval.metrics import evaluate, remove_excluded
    from rl_rerank.eval.report import markdown_table, write_report
    from rl_rerank.paths import shared_data_dir
    from rl_rerank.rerank.runner import rerank_requests
    from rl_rerank.rerank.options import (build_engine, build_paradigm, engine_args, engine_name, open_cache,
                                        run_options, strategy_settings)

    if not args.no_rerank:
        engine_args(args)  # bad engine options fail before the benchmarks load
    out = Path(args.out)
    src = Sources(data_dir=Path(args.data_dir) if args.data_dir else shared_data_dir(),
                  first_stage=Path(args.first_stage) if args.first_stage else None, k=max(args.first_stage_k, args.top_k or 0, 1),
                  bright_docs=Path(args.bright_docs) if args.bright_docs else None,
                  bright_retrieval_query=args.bright_retrieval_query, online=args.online,
                  max_queries=args.max_queries, progress=not args.no_progress)
    sets = [s for name in args.benchmark for s in load_benchmark(name, src)]
    paradigm = settings = key = cache = engine = None
    if not args.no_rerank:
        paradigm, settings = build_paradigm(args), strategy_settings(args)
        key, cache = open_cache(args, paradigm, settings)
        engine = build_engine(args)
    rows = []
    try:
        for s in sets:
            stats: dict = {}
            if engine is None:
                reranked = s.first_stage
            else:
                reranked, stats = rerank_requests(engine, paradigm, s.requests, settings, run_options(args), key, cache)
            first = remove_excluded(s.first_stage, s.excluded)  # BRIGHT: excluded ids never count
            reranked = remove_excluded(reranked, s.excluded)
            stem = s.name.replace("/", "_")
            write_run(out / "runs" / f"{stem}.first.trec", first, tag="first_stage")
            write_run(out / "runs" / f"{stem}.rerank.trec", reranked, tag="rl_rerank")
            rows.append({"name": s.name, "group": s.group, "queries": len(s.qrels),
                         "first_stage": evaluate(first, s.qrels, args.measures, rel_threshold=s.rel_threshold),
                         "reranked": evaluate(reranked, s.qrels, args.measures, rel_threshold=s.rel_threshold),
                         "stats": stats})
    finally:
        if engine is not None:
            engine.close()
    meta = {"benchmarks": args.benchmark, "model": args.model, "adapter": args.adapter,
            "engine": None if args.no_rerank else engine_name(args),
            "paradigm": "none" if args.no_rerank else args.paradigm, "reasoning": args.reasoning,
            "top_k": args.top_k, "settings": settings.as_dict() if settings else None}
    report = write_report(out, rows, args.measures, meta)
    print(markdown_table(report["results"], args.measures), end="")
    print(f"eval: wrote {out / 'report.json'}, report.md, report.png and runs/")
    return 0

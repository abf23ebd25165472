"""`rl-rerank eval`: rerank a benchmark's first stage and score it (TREC-DL, BEIR, BRIGHT, local folders)."""

from __future__ import annotations

from pathlib import Path

from rl_rerank.argtypes import positive_int

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
    parser.add_argument("--first-stage-k", type=positive_int, default=100, help="first-stage depth (BM25 top-k)")
    parser.add_argument("--bright-docs", default=None, help="folder with BRIGHT <task>.jsonl documents")
    parser.add_argument("--bright-retrieval-query", choices=("original", "reasoning"), default="original",
                        help="query BM25 uses for BRIGHT (the reranker always gets the original query)")
    parser.add_argument("--online", action="store_true", help="fetch missing data from the hub via datasets")
    parser.add_argument("--max-queries", type=positive_int, default=None, help="first N queries per set (smoke runs)")
    parser.add_argument("--no-rerank", action="store_true", help="score the first stage only (no model)")
    parser.add_argument("--compare", default=None, metavar="RUN_OR_FOLDER",
                        help="paired test against another system: a TREC run (one set) or a folder of runs named "
                             "like eval's runs/ (<set>.rerank.trec or <set>.trec; an eval --out folder works)")
    parser.add_argument("--compare-name", default=None, help="label of the --compare system (default: its file name)")
    from rl_rerank.commands._reranker import add_reranker_arguments

    add_reranker_arguments(parser)


def compare_runs(path: Path, sets) -> dict:
    """{set name: run} for --compare, read and checked before any model is loaded."""
    from rl_rerank.data import read_run
    from rl_rerank.errors import UserError

    if path.is_file():
        if len(sets) != 1:
            raise UserError(f"--compare {path}: a run file covers one set, but {len(sets)} sets are evaluated; "
                            "give a folder of <set>.rerank.trec runs")
        found = {sets[0].name: path}
    elif path.is_dir():
        folder = path / "runs" if (path / "runs").is_dir() else path
        found = {}
        for s in sets:
            stem = s.name.replace("/", "_")
            options = [folder / f"{stem}.rerank.trec", folder / f"{stem}.trec"]
            hit = next((p for p in options if p.is_file()), None)
            if hit is None:
                raise UserError(f"--compare {path}: no run for {s.name} (expected {options[0]} or {options[1].name})")
            found[s.name] = hit
    else:
        raise UserError(f"--compare {path}: no such file or folder")
    runs = {}
    for s in sets:
        run = read_run(found[s.name])
        if not set(run) & set(s.qrels):
            raise UserError(f"--compare {found[s.name]}: none of its queries is a judged query of {s.name}")
        runs[s.name] = run
    return runs


def run(args) -> int:
    from rl_rerank.commands._reranker import reranker_options
    from rl_rerank.data import write_run
    from rl_rerank.data.outputs import check_outputs
    from rl_rerank.eval.benchmarks import Sources, load_benchmark
    from rl_rerank.eval.metrics import check_measures, evaluate, remove_excluded
    from rl_rerank.eval.report import results_table, set_statistics, test_sentences, write_report
    from rl_rerank.paths import shared_data_dir
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

    # bad engine options fail before the benchmarks load
    opts = None if args.no_rerank else with_recipe_budgets(reranker_options(args))
    out = Path(args.out)
    check_measures(args.measures)
    inputs = [args.data_dir, args.first_stage, args.bright_docs] + ([] if opts is None else reranker_inputs(opts))
    check_outputs(folders=[out] + ([cache_root(opts)] if opts is not None and opts.use_cache else []), inputs=inputs)
    src = Sources(data_dir=Path(args.data_dir) if args.data_dir else shared_data_dir(),
                  first_stage=Path(args.first_stage) if args.first_stage else None,
                  k=max(args.first_stage_k, args.top_k or 0, 1),
                  bright_docs=Path(args.bright_docs) if args.bright_docs else None,
                  bright_retrieval_query=args.bright_retrieval_query, online=args.online,
                  max_queries=args.max_queries, progress=not args.no_progress)
    sets = [s for name in args.benchmark for s in load_benchmark(name, src)]
    stems = [s.name.replace("/", "_") for s in sets]
    check_outputs(files=[out / "runs" / f"{stem}.{kind}.trec" for stem in stems for kind in ("first", "rerank")]
                  + [out / f"report.{ext}" for ext in ("json", "md", "png")], inputs=inputs)
    others = compare_runs(Path(args.compare), sets) if args.compare else {}
    paradigm = settings = key = cache = engine = None
    if opts is not None:
        paradigm, settings = build_paradigm(opts), strategy_settings(opts)
        key, cache = open_cache(opts, paradigm, settings)
        engine = build_engine(opts)
    rows = []
    try:
        for s in sets:
            stats: dict = {}
            if engine is None:
                reranked = s.first_stage
            else:
                assert opts is not None and settings is not None and key is not None  # built with the engine
                reranked, stats = rerank_requests(engine, paradigm, s.requests, settings, run_options(opts), key, cache)
            first = remove_excluded(s.first_stage, s.excluded)  # BRIGHT: excluded ids never count
            reranked = remove_excluded(reranked, s.excluded)
            stem = s.name.replace("/", "_")
            write_run(out / "runs" / f"{stem}.first.trec", first, tag="first_stage")
            write_run(out / "runs" / f"{stem}.rerank.trec", reranked, tag="rl_rerank")
            runs = {"first_stage": first} if engine is None else {"first_stage": first, "reranked": reranked}
            tests = [] if engine is None else [("reranked", "first_stage")]
            if s.name in others:
                runs["compare"] = remove_excluded(others[s.name], s.excluded)
                tests.append(("reranked" if engine is not None else "first_stage", "compare"))
            values, results = set_statistics(runs, s.qrels, args.measures, tests, rel_threshold=s.rel_threshold,
                                             seed=args.seed)
            rows.append({"name": s.name, "group": s.group, "queries": len(s.qrels),
                         "first_stage": evaluate(first, s.qrels, args.measures, rel_threshold=s.rel_threshold),
                         "reranked": evaluate(reranked, s.qrels, args.measures, rel_threshold=s.rel_threshold),
                         **({"compare": evaluate(runs["compare"], s.qrels, args.measures,
                                                 rel_threshold=s.rel_threshold)} if "compare" in runs else {}),
                         "stats": stats, "tests": results, "per_query": values})
    finally:
        if engine is not None:
            engine.close()
    meta = {"benchmarks": args.benchmark, "model": args.model, "adapter": args.adapter,
            "engine": None if opts is None else engine_name(opts),
            "paradigm": "none" if args.no_rerank else args.paradigm, "reasoning": args.reasoning,
            "top_k": args.top_k, "settings": settings.as_dict() if settings else None,
            "compare": args.compare, "labels": {"compare": args.compare_name or Path(args.compare or "").name}}
    report = write_report(out, rows, args.measures, meta)
    print(results_table(report["results"], args.measures), end="")
    for line in test_sentences(report["results"], args.measures[0], meta["labels"]):
        print(line)
    print(f"eval: wrote {out / 'report.json'}, report.md, report.png, per_query/ and runs/")
    return 0

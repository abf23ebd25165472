"""Reranking speed: transformers vs vLLM engines on the same inputs (DL20 BM25 candidates, truncated passages).

Measures pointwise scoring (docs/s, prompt tokens/s: one forward per pair, score read from label
probabilities) and listwise reranking (queries/s, tokens/s: one window per query, generated permutation),
then prints one table with the vLLM / transformers ratio. Not a test: numbers depend on the machine.

    python benchmarks/rerank_speed.py --pairs 100 --listwise-queries 4
"""

from __future__ import annotations

import argparse
import os
import time

from rl_rerank.tables import markdown_table


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="model folder or hub id (default: embedded SmolLM2-135M)")
    p.add_argument("--engines", nargs="+", default=["transformers", "vllm"])
    p.add_argument("--pairs", type=int, default=100, help="(query, passage) pairs for pointwise scoring")
    p.add_argument("--docs-per-query", type=int, default=10, help="BM25 top-k per query")
    p.add_argument("--listwise-queries", type=int, default=4, help="queries reranked listwise (one window each)")
    p.add_argument("--max-doc-tokens", type=int, default=64, help="passages are cut to this many tokens")
    p.add_argument("--batch-size", type=int, default=16, help="transformers batch size")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds per workload (best one counts)")
    p.add_argument("--json", default=None, help="also write the measurements here")
    return p.parse_args(argv)


def dl20_requests(n_queries: int, k: int):
    from rl_rerank.data import Request, read_requests
    from rl_rerank.paths import shared_data_dir

    reqs = read_requests(shared_data_dir() / "trec-dl-2020" / "bm25-top100.json")[:n_queries]
    return [Request(r.query, r.candidates[:k]) for r in reqs]


def measure(engine, paradigm, requests, settings, top_k):
    from rl_rerank.rerank import RunOptions, rerank_requests

    start = time.perf_counter()
    _, stats = rerank_requests(engine, paradigm, requests, settings, RunOptions(top_k=top_k, progress=False))
    wall = time.perf_counter() - start
    return {"wall_s": wall, "queries": len(requests), "docs": stats["documents_computed"],
            "prompt_tokens": stats["prompt_tokens"], "completion_tokens": stats["completion_tokens"],
            "fallbacks": stats["fallbacks"]}


def start_engine(name: str, args):
    from rl_rerank.engines import make_engine

    kwargs = {"batch_size": args.batch_size} if name == "transformers" else {"max_model_len": 4096}
    start = time.perf_counter()
    engine = make_engine(name, args.model, **kwargs)
    return engine, time.perf_counter() - start


def bench_all(args) -> dict:
    """Both engines stay loaded and take turns on each workload, `rounds` times; the best round counts.
    On a shared machine this keeps background load from favouring whichever engine ran second."""
    from rl_rerank.paradigms import get_paradigm
    from rl_rerank.rerank import StrategySettings

    k = args.docs_per_query
    point = get_paradigm("pointwise", max_doc_tokens=args.max_doc_tokens)
    listw = get_paradigm("listwise", max_doc_tokens=args.max_doc_tokens)
    engines, startup = {}, {}
    try:
        for name in args.engines:
            engines[name], startup[name] = start_engine(name, args)
            measure(engines[name], point, dl20_requests(1, 2), StrategySettings(), 2)  # one-off costs, not counted
        best: dict[str, dict[str, dict]] = {n: {} for n in engines}
        workloads = {"pointwise": (point, dl20_requests(max(1, args.pairs // k), k), StrategySettings()),
                     "listwise": (listw, dl20_requests(args.listwise_queries, k), StrategySettings(window=k, stride=k))}
        for r in range(args.rounds):
            for work, (paradigm, reqs, settings) in workloads.items():
                for name, engine in engines.items():
                    m = measure(engine, paradigm, reqs, settings, k)
                    print(f"round {r + 1} {work} {name}: {m['wall_s']:.1f}s", flush=True)
                    if work not in best[name] or m["wall_s"] < best[name][work]["wall_s"]:
                        best[name][work] = m
    finally:
        for engine in engines.values():
            engine.close()
    out = {}
    for name, b in best.items():
        pw, lw = b["pointwise"], b["listwise"]
        out[name] = {
            "startup_s": startup[name],
            "pointwise_docs_per_s": pw["docs"] / pw["wall_s"],
            "pointwise_prompt_tokens_per_s": pw["prompt_tokens"] / pw["wall_s"],
            "listwise_queries_per_s": lw["queries"] / lw["wall_s"],
            "listwise_tokens_per_s": (lw["prompt_tokens"] + lw["completion_tokens"]) / lw["wall_s"],
            "listwise_completion_tokens_per_s": lw["completion_tokens"] / lw["wall_s"],
            "raw": b,
        }
    return out


def table(results: dict) -> str:
    names = list(results)
    rows = [("engine start-up (s)", "startup_s"), ("pointwise docs/s", "pointwise_docs_per_s"),
            ("pointwise prompt tokens/s", "pointwise_prompt_tokens_per_s"),
            ("listwise queries/s", "listwise_queries_per_s"), ("listwise tokens/s (in+out)", "listwise_tokens_per_s"),
            ("listwise generated tokens/s", "listwise_completion_tokens_per_s")]
    ratio = len(names) == 2
    head = ["metric", *names] + ([f"{names[1]} / {names[0]}"] if ratio else [])
    lines = []
    for label, key in rows:
        vals = [results[n][key] for n in names]
        cells = [label, *(f"{v:.2f}" for v in vals)]
        if ratio:
            cells.append(f"{vals[1] / vals[0]:.2f}x" if vals[0] else "n/a")
        lines.append(cells)
    return markdown_table(head, lines)


def main(argv=None) -> int:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = parse_args(argv)
    from rl_rerank.cli import quiet_third_party

    quiet_third_party()  # the same quiet log as the CLI's
    load_before = os.getloadavg()[0]
    results = bench_all(args)
    load_after = os.getloadavg()[0]
    model = args.model or "embedded SmolLM2-135M-Instruct"
    print(f"\nmodel: {model}; {args.pairs} pointwise pairs, {args.listwise_queries} listwise queries x "
          f"{args.docs_per_query} docs, passages <= {args.max_doc_tokens} tokens; best of {args.rounds} "
          f"alternating rounds; {os.cpu_count()} CPUs, load average {load_before:.1f} -> {load_after:.1f}\n")
    print(table(results), end="")
    if args.json:
        from rl_rerank.data import write_json

        write_json(args.json, {"args": vars(args), "load_average": [load_before, load_after], "results": results})
    return 0


if __name__ == "__main__":  # vLLM starts worker processes: the guard keeps them from re-running the script
    raise SystemExit(main())

"""Compare stage-1/stage-2 adapters on the dev side of a training source's hashed query split (run by hand).

Settings are chosen here, never on the evaluation set: for each adapter it reranks the dev queries' BM25 top-k
and prints nDCG@10 (alone and fused with BM25), and the mean expected score per judged grade (does the model
separate grades, or did it learn the label prior?). Example, TREC DL 2021's dev side (11 of 53 queries):

    python benchmarks/dev_selection.py --source ../shared/data/trec-dl-2021 --adapter base \
        --adapter runs/smollm2-dl/sft --adapter runs/smollm2-dl/grpo --json dev.json

`--json` also keeps every dev query's nDCG@10 (alone and fused), which `benchmarks/dev_compare.py` pools over
the seeds of a setting: one run per setting on 11 queries cannot choose (training order alone moved the
smollm2-dl stage 1 by 0.036 on them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def dev_set(source: str, dev_fraction: float, split_seed: int, top_k: int):
    from rl_rerank.data.splits import in_split
    from rl_rerank.eval.benchmarks import Sources, load_benchmark
    from rl_rerank.paths import shared_data_dir

    (s,) = load_benchmark(source, Sources(data_dir=shared_data_dir(), k=top_k, progress=False))
    s.requests = [r for r in s.requests if in_split(r.query.qid, "dev", dev_fraction, split_seed)]
    keep = {r.query.qid for r in s.requests}
    s.qrels = {q: v for q, v in s.qrels.items() if q in keep}
    s.first_stage = {q: v for q, v in s.first_stage.items() if q in keep}
    return s


def score_adapter(model: str | None, adapter: str | None, s, paradigm, top_k: int, engine_name: str,
                  weights: tuple[float, ...] = (0.5,)) -> dict:
    from rl_rerank.engines.factory import make_engine
    from rl_rerank.eval.metrics import evaluate
    from rl_rerank.eval.significance import per_query
    from rl_rerank.rerank.fusion import fuse_top_k
    from rl_rerank.rerank.runner import RunOptions, rerank_requests
    from rl_rerank.rerank.strategies import StrategySettings

    engine = make_engine(engine_name, model, adapter, batch_size=16)
    started = time.perf_counter()
    try:
        run, _stats = rerank_requests(engine, paradigm, s.requests, StrategySettings(),
                                      RunOptions(top_k=top_k, progress=False))
    finally:
        engine.close()
    seconds = time.perf_counter() - started
    fused = {w: {q: fuse_top_k(run[q], s.first_stage[q], top_k, "zscore", w) for q in run} for w in weights}
    by_grade: dict[int, list[float]] = {}
    for q, docs in run.items():
        top = sorted(s.first_stage[q], key=lambda d: -s.first_stage[q][d])[:top_k]
        for d in top:
            if d in s.qrels.get(q, {}):
                by_grade.setdefault(int(s.qrels[q][d]), []).append(docs[d])
    by_query = {"alone": per_query(run, s.qrels),
                **{f"fused {w}": per_query(f, s.qrels) for w, f in fused.items()}}
    return {"nDCG@10": evaluate(run, s.qrels, ["nDCG@10"])["nDCG@10"],
            "fused": {w: evaluate(f, s.qrels, ["nDCG@10"])["nDCG@10"] for w, f in fused.items()},
            "per_query": by_query,  # nDCG@10 of every dev query: benchmarks/dev_compare.py pools seeds from it
            "per_grade": {g: round(statistics.mean(v), 3) for g, v in sorted(by_grade.items())},
            "docs_per_s": round(sum(len(v) for v in run.values()) / seconds, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="../shared/data/trec-dl-2021", help="TREC-DL or BEIR folder (training source)")
    ap.add_argument("--adapter", action="append", required=True, help="adapter folder, or 'base' (repeatable)")
    ap.add_argument("--model", default=None, help="base model (default: the embedded SmolLM2)")
    ap.add_argument("--dev-fraction", type=float, default=0.2)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--max-doc-tokens", type=int, default=64)
    ap.add_argument("--engine", default="transformers")
    ap.add_argument("--weights", default="0.5",
                    help="comma-separated BM25 weights w for z-score fusion: (1 - w) reranker + w BM25 (default 0.5)")
    ap.add_argument("--json", default=None, help="also write the table here")
    args = ap.parse_args(argv)
    from rl_rerank.cli import quiet_third_party

    quiet_third_party()  # the same quiet log as the CLI's
    from rl_rerank.data.atomic import write_json
    from rl_rerank.eval.metrics import evaluate
    from rl_rerank.paradigms import get_paradigm

    weights = tuple(float(w) for w in args.weights.split(","))
    s = dev_set(args.source, args.dev_fraction, args.split_seed, args.top_k)
    paradigm = get_paradigm("pointwise", reasoning=False, max_doc_tokens=args.max_doc_tokens, score_mode="expected")
    rows = {"bm25": {"nDCG@10": evaluate(s.first_stage, s.qrels, ["nDCG@10"])["nDCG@10"]}}
    for a in args.adapter:
        rows[a] = score_adapter(args.model, None if a == "base" else a, s, paradigm, args.top_k, args.engine, weights)
        print(f"{a}: {rows[a]}", file=sys.stderr, flush=True)
    print(f"dev queries: {len(s.requests)} (hashed split of {args.source}, fraction {args.dev_fraction})")
    from rl_rerank.tables import markdown_table

    head = ["system", "nDCG@10", *(f"fused (z, {w})" for w in weights), "mean expected score by grade 0/1/2/3",
            "docs/s"]
    cells = []
    for name, r in rows.items():
        grades = "/".join(str(r.get("per_grade", {}).get(g, "-")) for g in range(4)) if "per_grade" in r else "-"
        fused = [f"{r['fused'][w]:.4f}" if "fused" in r else "-" for w in weights]
        cells.append([name, f"{r['nDCG@10']:.4f}", *fused, grades, r.get("docs_per_s", "-")])
    print(markdown_table(head, cells), end="")
    if args.json:
        write_json(args.json, rows, indent=1)  # atomic: a killed run never leaves half a table
    return 0


if __name__ == "__main__":
    sys.exit(main())

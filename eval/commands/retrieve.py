"""`rl-rerank retrieve`: BM25 first stage over a BEIR or BRIGHT corpus -> TREC run + rank_llm requests."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rl_rerank.argtypes import non_negative_float, positive_int, unit_float

HELP = "BM25 first stage (bm25s, cached index): write a TREC run and a request file with texts for the top-k"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="BEIR folder, BEIR corpus.jsonl or BRIGHT documents .jsonl[.gz]")
    p.add_argument(
        "--queries", required=True,
        help="BEIR folder (queries of --split, qrels included), BEIR queries.jsonl, topics TSV (qid<TAB>text) "
        "or BRIGHT examples .jsonl[.gz] (gold ids and excluded ids included)",
    )  # fmt: skip
    p.add_argument("--split", default="test", help="BEIR split whose queries and qrels to use (default: test)")
    p.add_argument("--format", choices=["beir", "bright"], default=None, help="input format (default: detected)")
    p.add_argument("--top-k", type=positive_int, default=100, help="documents per query (default: 100)")
    p.add_argument("--run-out", type=Path, required=True, help="TREC run file to write")
    p.add_argument("--requests-out", type=Path, default=None,
                   help="request file with texts for the top-k: .jsonl = rank_llm {query, candidates} lines, "
                   ".json = rank_llm list of {query, hits}")  # fmt: skip
    p.add_argument("--qrels", type=Path, default=None,
                   help="qrels (TREC or BEIR TSV) to print nDCG@10 / R@100; BEIR folders and BRIGHT examples "
                   "bring their own")  # fmt: skip
    p.add_argument("--long-documents", action="store_true", help="BRIGHT: score against gold_ids_long")
    p.add_argument("--k1", type=non_negative_float, default=0.9, help="BM25 k1 (default 0.9)")
    p.add_argument("--b", type=unit_float, default=0.4, help="BM25 b (default 0.4)")
    p.add_argument("--run-tag", default="bm25", help="run tag in the last TREC column (default: bm25)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from rl_rerank.data.auto import fetch_docs, load_queries, read_qrels_auto
    from rl_rerank.data.build import build_requests, docids_in_top_k
    from rl_rerank.data.outputs import check_outputs
    from rl_rerank.data.rank_llm import write_requests
    from rl_rerank.data.trec import write_run
    from rl_rerank.errors import UserError
    from rl_rerank.eval.metrics import evaluate
    from rl_rerank.retrieval.bm25 import BM25Params, load_or_build_index

    check_outputs(files=[args.run_out, args.requests_out], inputs=[args.corpus, args.queries, args.qrels])
    if args.run_tag.split() != [args.run_tag]:
        raise UserError("--run-tag must be one word")
    progress = not args.no_progress
    qs = load_queries(args.queries, split=args.split, fmt=args.format, long_documents=args.long_documents)
    if not qs.queries:
        raise UserError(f"{args.queries}: no queries (split {args.split!r})")
    qrels = read_qrels_auto(args.qrels) if args.qrels else qs.qrels

    index = load_or_build_index(args.corpus, args.format, BM25Params(k1=args.k1, b=args.b), progress=progress)
    how = "built" if index.built else "loaded from cache"
    print(f"index: {index.num_docs} documents, {how} in {index.seconds:.1f} s ({index.folder})")
    t0 = time.perf_counter()
    results = index.search(qs.queries, k=args.top_k, exclude=qs.excluded, progress=progress)
    print(f"retrieved top-{args.top_k} for {len(results)} queries in {time.perf_counter() - t0:.1f} s")

    requests = None
    if args.requests_out:  # built before anything is written, so a failure leaves no output at all
        docs = fetch_docs(args.corpus, docids_in_top_k(results, args.top_k), args.format)
        requests = build_requests(results, docs, qs.queries, args.top_k)
    write_run(args.run_out, results, tag=args.run_tag)
    print(f"run: {args.run_out}")
    if requests is not None:
        write_requests(args.requests_out, requests)
        print(f"requests: {args.requests_out} ({len(requests)} queries)")
    if qrels:
        judged = {q: docs for q, docs in qrels.items() if q in qs.queries}  # qrels may cover other splits
        if not judged:
            raise UserError(f"{args.qrels or args.queries}: no qrels for these queries")
        scores = evaluate(results, judged, ["nDCG@10", "R@100"])
        print(f"nDCG@10 {scores['nDCG@10']:.4f}  R@100 {scores['R@100']:.4f}  ({len(judged)} judged queries)")
    return 0

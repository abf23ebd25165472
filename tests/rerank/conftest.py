"""Shared by the sharded-rerank tests: 4 DL20 queries, the single-process reference runs, the API entry."""

from __future__ import annotations

import json

import pytest

from rl_rerank.cli import build_parser, main
from rl_rerank.commands._reranker import reranker_options
from rl_rerank.rerank.inputs import load_requests
from rl_rerank.rerank.options import build_paradigm, open_cache, run_options, strategy_settings
from rl_rerank.rerank.shards import rerank_sharded

SMALL = ["--top-k", "5", "--window", "4", "--stride", "2", "--max-new-tokens", "10", "--max-doc-tokens", "40",
         "--no-progress", "--batch-queries", "1"]


@pytest.fixture(scope="module")
def dl20_four(dl20_dir, tmp_path_factory):
    """The first 4 DL20 queries of the shared rank_llm file: 4 chunks of one query each."""
    hits = json.loads((dl20_dir / "bm25-top100.json").read_text())[:4]
    path = tmp_path_factory.mktemp("dl20") / "requests.json"
    path.write_text(json.dumps(hits))
    return path


def argv(tiny_model, requests, out, cache, paradigm="pointwise", extra=()):
    return ["rerank", "--model", str(tiny_model), "--engine", "transformers", "--paradigm", paradigm,
            "--input", str(requests), "--output", str(out), "--cache-dir", str(cache), *SMALL, *extra]


@pytest.fixture(scope="module")
def reference(tiny_model, dl20_four, tmp_path_factory):
    """One process, one engine: the run every sharded run must reproduce (pointwise and listwise)."""
    tmp = tmp_path_factory.mktemp("ref")
    out = {}
    for paradigm in ("pointwise", "listwise"):
        path = tmp / f"{paradigm}.trec"
        assert main(argv(tiny_model, dl20_four, path, tmp / f"cache-{paradigm}", paradigm)) == 0
        out[paradigm] = path.read_bytes()
    return out


def sharded_api(tiny_model, dl20_four, cache_dir, paradigm, **kw):
    args = build_parser().parse_args(argv(tiny_model, dl20_four, cache_dir / "x.trec", cache_dir, paradigm))
    opts = reranker_options(args)
    requests = load_requests(args.input, None, None, opts.top_k)
    key, cache = open_cache(opts, build_paradigm(opts), strategy_settings(opts))
    return rerank_sharded(opts, requests, run_options(opts), key, cache, **kw), key

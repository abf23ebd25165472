"""`datasets` loading, local-files path only (no hub in tests): same records as the file readers."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from rl_rerank.data import hf  # noqa: E402
from rl_rerank.data.beir import iter_corpus, load_beir  # noqa: E402
from rl_rerank.data.bright import read_examples  # noqa: E402
from rl_rerank.data.rank_llm import read_requests  # noqa: E402
from rl_rerank.errors import DataError  # noqa: E402


def test_bright_examples_via_datasets(bright_dir):
    path = bright_dir / "pony.jsonl.gz"
    assert hf.bright_examples(path) == read_examples(path)


def test_beir_via_datasets(scifact_dir):
    queries = hf.beir_queries(scifact_dir / "queries.jsonl")
    assert len(queries) == 1109
    test = load_beir(scifact_dir, "test")
    assert hf.beir_qrels(scifact_dir / "qrels" / "test.tsv") == test.qrels
    assert {q: queries[q] for q in test.queries} == test.queries
    streamed = hf.beir_corpus(scifact_dir / "corpus.jsonl")
    first = [d for _, d in zip(range(5), streamed, strict=False)]
    assert first == [d for _, d in zip(range(5), iter_corpus(scifact_dir), strict=False)]


def test_requests_via_datasets(dl20_dir):
    path = dl20_dir / "bm25-top100.json"
    reqs = hf.requests(path)
    assert len(reqs) == 54 and all(len(r.candidates) == 100 for r in reqs)
    plain = read_requests(path)
    assert [r.query for r in reqs] == [r.query for r in plain]
    for got, want in zip(reqs, plain, strict=True):
        assert [(c.docid, c.text, c.rank) for c in got.candidates] == [
            (c.docid, c.text, c.rank) for c in want.candidates
        ]
        # Arrow's JSON reader may round the last digits of a float; the ranking is what must survive.
        assert [c.score for c in got.candidates] == pytest.approx([c.score for c in want.candidates], rel=1e-9)


def test_bad_row_names_source_and_row(tmp_path):
    path = tmp_path / "ex.jsonl"
    na = '"excluded_ids": ["N/A"]'
    path.write_text(f'{{"id": "1", "query": "q", "gold_ids": ["a"], {na}}}\n'
                    f'{{"id": "2", "query": "q", "gold_ids": [], {na}}}\n'
                    f'{{"id": "3", "query": null, "gold_ids": ["b"], {na}}}\n')  # fmt: skip
    with pytest.raises(DataError) as err:
        hf.bright_examples(path)
    assert err.value.line == 3 and "'query'" in str(err.value)
    txt = tmp_path / "ex.txt"
    txt.write_text("x")
    with pytest.raises(DataError, match="for `datasets`"):
        hf.load_rows(txt)

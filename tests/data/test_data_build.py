"""Run -> requests (with texts), and the format detection used by commands."""

from __future__ import annotations

import pytest

from rl_rerank.data.auto import fetch_docs, load_queries, read_qrels_auto
from rl_rerank.data.beir import load_beir
from rl_rerank.data.build import build_requests, docids_in_top_k
from rl_rerank.data.rank_llm import read_requests
from rl_rerank.data.trec import read_qrels, read_topics
from rl_rerank.data.types import Candidate, Query, run_from_requests
from rl_rerank.errors import DataError, UserError


def test_rebuild_dl20_requests_from_run(dl20_dir):
    original = read_requests(dl20_dir / "bm25-top100.json")
    run = run_from_requests(original)
    docs = {c.docid: c.text for r in original for c in r.candidates}
    topics = read_topics(dl20_dir / "topics.dl20.tsv")  # 200 topics, only the 54 ranked ones come back
    rebuilt = build_requests(run, docs, topics, top_k=20)
    assert len(rebuilt) == 54
    by_qid = {r.query.qid: r for r in original}
    for req in rebuilt:
        want = by_qid[req.query.qid].candidates[:20]
        assert [c.docid for c in req.candidates] == [c.docid for c in want]
        assert [c.rank for c in req.candidates] == list(range(1, 21))
        assert req.candidates[0].score == want[0].score and req.candidates[0].text == want[0].text
    assert len(docids_in_top_k(run, 20)) <= 54 * 20


def test_titles_come_from_candidates_and_mismatches_raise(scifact_dir):
    run = {"1": {"4983": 2.0, "31715818": 1.0}}
    docs = fetch_docs(scifact_dir, docids_in_top_k(run))
    (req,) = build_requests(run, docs, {"1": "q text"})
    assert req.query == Query("1", "q text")
    assert req.candidates[0].title.startswith("Microstructural")
    with pytest.raises(UserError, match="no text in the corpus.*'missing'"):
        build_requests({"1": {"missing": 1.0}}, docs, {"1": "q"})
    with pytest.raises(UserError, match="no query text"):
        build_requests(run, docs, {"2": "other"})
    assert build_requests(run, {"4983": Candidate("4983", "t")}, {"1": "q"}, top_k=1)[0].candidates[0].text == "t"


def test_load_queries_detects_each_source(scifact_dir, dl20_dir, bright_dir):
    beir = load_queries(scifact_dir, split="test")
    assert beir.kind == "beir" and len(beir.queries) == 300 and beir.qrels == load_beir(scifact_dir).qrels
    plain = load_queries(scifact_dir / "queries.jsonl")
    assert plain.kind == "beir-queries" and len(plain.queries) == 1109 and plain.qrels is None
    topics = load_queries(dl20_dir / "topics.dl20.tsv")
    assert topics.kind == "topics" and len(topics.queries) == 200
    br = load_queries(bright_dir / "aops.jsonl.gz")
    assert br.kind == "bright" and len(br.queries) == 111 and len(br.excluded) == 111
    with pytest.raises(DataError):
        load_queries(bright_dir)


def test_read_qrels_auto(scifact_dir, dl20_dir):
    assert read_qrels_auto(dl20_dir / "qrels.dl20-passage.txt") == read_qrels(dl20_dir / "qrels.dl20-passage.txt")
    assert read_qrels_auto(scifact_dir / "qrels" / "test.tsv") == load_beir(scifact_dir).qrels


def test_read_queries_auto_takes_every_query_file(tmp_path, scifact_dir, dl20_dir, bright_dir):
    """One guesser for `rerank --queries`, training `topics` and `retrieve --queries` (issue 12): a BEIR folder
    gives all its queries, a gzipped topics TSV is still topics, BRIGHT examples give their original queries."""
    import gzip

    from rl_rerank.data.auto import read_queries_auto

    assert len(read_queries_auto(scifact_dir)) == 1109
    tsv = (dl20_dir / "topics.dl20.tsv").read_bytes()
    (tmp_path / "topics.tsv.gz").write_bytes(gzip.compress(tsv))
    assert read_queries_auto(tmp_path / "topics.tsv.gz") == read_topics(dl20_dir / "topics.dl20.tsv")
    aops = read_queries_auto(bright_dir / "aops.jsonl.gz")
    assert len(aops) == 111 and all(q.text for q in aops.values())
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match=r"empty\.jsonl: no queries \{_id, text\}"):
        read_queries_auto(tmp_path / "empty.jsonl")
    (tmp_path / "odd.jsonl").write_text('{"name": "x"}\n')
    with pytest.raises(DataError, match=r"odd\.jsonl:1: a BEIR query"):
        read_queries_auto(tmp_path / "odd.jsonl")


def test_read_qrels_auto_skips_blank_lines_and_bom(tmp_path):
    """The rule the training sources now share: the first non-blank line decides, after the BOM is dropped."""
    beir = tmp_path / "beir.tsv"
    beir.write_bytes(b"\xef\xbb\xbf\nquery-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert read_qrels_auto(beir) == {"q1": {"d1": 1}}
    trec = tmp_path / "trec.txt"
    trec.write_text("\n\nq1 0 d1 2\nq1 0 d2 0\n")
    assert read_qrels_auto(trec) == {"q1": {"d1": 2, "d2": 0}}
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(DataError, match="no qrels lines"):
        read_qrels_auto(tmp_path / "blank.txt")


def test_corpus_format_and_fetch_for_both_corpora(tmp_path, scifact_dir):
    from rl_rerank.data.auto import corpus_file, corpus_format, iter_docs
    from rl_rerank.data.bright import write_documents

    assert corpus_file(scifact_dir) == scifact_dir / "corpus.jsonl" and corpus_format(scifact_dir) == "beir"
    docs = [d for _, d in zip(range(5), iter_docs(scifact_dir), strict=False)]
    path = tmp_path / "documents.jsonl.gz"
    write_documents(path, docs)
    assert corpus_format(path) == "bright"
    found = fetch_docs(path, {docs[1].docid, docs[4].docid, "absent"})
    assert sorted(found) == sorted([docs[1].docid, docs[4].docid])
    assert found[docs[1].docid].text == docs[1].full_text()  # BRIGHT documents carry title + text as content
    with pytest.raises(DataError, match="corpus.jsonl"):
        corpus_file(tmp_path)
    with pytest.raises(ValueError, match="unknown corpus format"):
        iter_docs(path, "trec")


def test_trec_dl_folder_layout(tmp_path, dl20_dir, scifact_dir):
    """The shared TREC-DL layout, recognised the same way by benchmarks and training sources."""
    from rl_rerank.data.auto import trec_dl_folder

    assert trec_dl_folder(dl20_dir) == (dl20_dir / "bm25-top100.json", dl20_dir / "qrels.dl20-passage.txt")
    assert trec_dl_folder(scifact_dir) is None and trec_dl_folder(dl20_dir / "bm25-top100.json") is None
    (tmp_path / "bm25-top100.json").write_text("[]")
    assert trec_dl_folder(tmp_path) == (tmp_path / "bm25-top100.json", None)
    (tmp_path / "qrels.a.txt").write_text("1 0 d 1\n")
    (tmp_path / "qrels.b.txt").write_text("1 0 d 1\n")
    with pytest.raises(DataError, match="one qrels file beside bm25-top100.json, found qrels.a.txt, qrels.b.txt"):
        trec_dl_folder(tmp_path)


@pytest.mark.parametrize("writer", ["beir", "bright"])
def test_fetch_docs_keeps_the_first_of_a_repeated_id_whether_or_not_it_stops_early(tmp_path, writer):
    from rl_rerank.data.beir import write_corpus
    from rl_rerank.data.bright import write_documents

    docs = [Candidate("a", "first"), Candidate("b", "bee"), Candidate("a", "second"), Candidate("c", "sea")]
    path = tmp_path / ("corpus.jsonl" if writer == "beir" else "documents.jsonl.gz")
    write_corpus(path, docs) if writer == "beir" else write_documents(path, docs)
    assert fetch_docs(path, {"a"})["a"].text == "first"  # stops at the first "a"
    assert fetch_docs(path, {"a", "c"})["a"].text == "first"  # reads past the second "a"

"""Benchmarks by name -> evaluation sets (queries with first-stage candidates, qrels, excluded ids).

Names: "trec-dl-2019", "trec-dl-2020", "beir/<dataset>", "bright" (12 tasks) or "bright:task1,task2", or a
local folder (a BEIR folder, or a TREC-DL style folder with a rank_llm requests JSON and a qrels file).
Offline everything comes from the shared data folder (rl_rerank.paths.shared_data_dir()); with online=True
missing pieces come from the hub through `datasets` (thin, not exercised offline).

Protocols (docs/formulas-and-protocols.md, Evaluation protocols): TREC-DL graded qrels, recall/MAP at
grade >= 2, first stage BM25 top-100; BEIR BM25 top-100 of the test split; BRIGHT: each query's excluded_ids
are removed (from the candidates and again before scoring), nDCG@10 per task then averaged over tasks, and
the reranker always sees the original query even when retrieval used the reasoning-expanded one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rl_rerank.data.types import Qrels, Query, Request, Run, run_from_requests
from rl_rerank.errors import UserError

TREC_DL = {"trec-dl-2019": "trec-dl-2019", "trec-dl-2020": "trec-dl-2020"}


@dataclass
class EvalSet:
    name: str  # "trec-dl-2020", "beir/scifact", "bright/biology"
    requests: list[Request]  # first-stage candidates with texts, for the reranker
    qrels: Qrels
    first_stage: Run
    excluded: dict[str, set[str]] = field(default_factory=dict)
    rel_threshold: int | None = None  # binary measures' relevance grade (TREC-DL: 2)
    group: str | None = None  # sets averaged together in the report ("bright")


@dataclass
class Sources:
    """Where data comes from and how the first stage is made."""

    data_dir: Path
    first_stage: Path | None = None  # a run file (one set) or a folder of <set>.trec runs
    k: int = 100
    bright_docs: Path | None = None  # folder with <task>.jsonl[.gz] BRIGHT documents ({id, content})
    bright_retrieval_query: str = "original"  # or "reasoning": BM25 with BRIGHT's reasoning-expanded query
    online: bool = False
    max_queries: int | None = None
    progress: bool = True


def run_file_for(src: Sources, name: str) -> Path | None:
    if src.first_stage is None:
        return None
    if src.first_stage.is_dir():
        path = src.first_stage / f"{name.replace('/', '_')}.trec"
        return path if path.is_file() else None
    return src.first_stage


def _limit(queries: dict[str, Query], src: Sources) -> dict[str, Query]:
    return dict(list(queries.items())[:src.max_queries]) if src.max_queries else queries


def _bm25_or_given(src: Sources, name: str, corpus: Path, queries: dict[str, Query],
                   retrieval_queries: dict[str, Query] | None = None,
                   exclude: dict[str, set[str]] | None = None) -> list[Request]:
    """Requests from the given first-stage run, else from BM25 top-k over the corpus."""
    from rl_rerank.data import build_requests, docids_in_top_k, fetch_docs, read_run
    from rl_rerank.retrieval.bm25 import bm25_run

    given = run_file_for(src, name)
    if given is not None:
        run = {q: s for q, s in read_run(given).items() if q in queries}
    else:
        run = bm25_run(corpus, retrieval_queries or queries, k=src.k, exclude=exclude, progress=src.progress)
    if exclude:
        run = {q: {d: s for d, s in docs.items() if d not in exclude.get(q, ())} for q, docs in run.items()}
    docs = fetch_docs(corpus, docids_in_top_k(run, src.k))
    return build_requests(run, docs, queries, top_k=src.k)


def load_trec_dl(name: str, folder: Path, src: Sources) -> list[EvalSet]:
    from rl_rerank.data import read_qrels_auto, read_requests
    from rl_rerank.data.auto import trec_dl_folder

    dl = trec_dl_folder(folder)
    reqs_path, qrels_path = dl if dl is not None else (None, None)
    if reqs_path is None or qrels_path is None:
        raise UserError(f"{folder}: {name} needs bm25-top100.json (rank_llm requests) and a qrels file; "
                        "not available offline here")
    requests = read_requests(reqs_path)
    if src.max_queries:
        requests = requests[:src.max_queries]
    qrels = read_qrels_auto(qrels_path)
    given = run_file_for(src, name)
    if given is not None:
        from rl_rerank.data import read_run

        run = read_run(given)
        texts = {c.docid: c for r in requests for c in r.candidates}
        from rl_rerank.data import build_requests

        requests = build_requests({r.query.qid: run.get(r.query.qid, {}) for r in requests}, texts,
                                  {r.query.qid: r.query for r in requests}, top_k=src.k)
    requests = [r for r in requests if r.query.qid in qrels]  # judged queries only (54 of 200 for DL20)
    return [EvalSet(name, requests, qrels, run_from_requests(requests), rel_threshold=2)]


def load_beir_set(name: str, folder: Path, src: Sources) -> list[EvalSet]:
    from rl_rerank.data import load_beir

    if not folder.is_dir():
        if not src.online:
            raise UserError(f"{folder}: {name} is not available offline (put the BEIR folder there or use --online)")
        folder = _download_beir(name.split("/", 1)[1])
    split = load_beir(folder, "test")
    queries = _limit(split.queries, src)
    requests = _bm25_or_given(src, name, folder, queries)
    qrels = {q: split.qrels[q] for q in queries}
    return [EvalSet(name, requests, qrels, run_from_requests(requests))]


def _download_beir(dataset: str) -> Path:  # pragma: no cover - needs the hub
    from rl_rerank.data import hf, write_json  # noqa: F401
    from rl_rerank.data.beir import write_corpus, write_qrels, write_queries
    from rl_rerank.paths import cache_dir

    out = cache_dir("beir", dataset)
    if not (out / "corpus.jsonl").is_file():
        write_queries(out / "queries.jsonl", hf.beir_queries(f"BeIR/{dataset}"))
        write_qrels(out / "qrels" / "test.tsv", hf.beir_qrels(f"BeIR/{dataset}-qrels", "test"))
        write_corpus(out / "corpus.jsonl", hf.beir_corpus(f"BeIR/{dataset}"))
    return out


def load_bright_tasks(tasks: list[str] | None, src: Sources) -> list[EvalSet]:
    from rl_rerank.data import bright

    examples_dir = src.data_dir / "bright" / "examples"
    files = bright.task_files(examples_dir) if examples_dir.is_dir() else {}
    names = tasks or list(bright.TASKS)
    out = []
    for task in names:
        if task in files:
            examples = bright.read_examples(files[task])
        elif src.online:  # pragma: no cover - needs the hub
            from rl_rerank.data import hf

            examples = hf.bright_examples(task=task)
        else:
            raise UserError(f"{examples_dir}: no BRIGHT examples for task {task!r} (have: {', '.join(files)})")
        if src.max_queries:
            examples = examples[:src.max_queries]
        docs = _bright_docs(task, src)
        queries = bright.queries_of(examples)  # the reranker always sees the original query
        retrieval = queries
        if src.bright_retrieval_query == "reasoning":
            retrieval = {e.id: Query(e.id, e.reasoning or e.query) for e in examples}
        excluded = bright.excluded_of(examples)
        requests = _bm25_or_given(src, f"bright/{task}", docs, queries, retrieval, excluded)
        qrels = bright.qrels_of(examples)
        requests = [r for r in requests if r.query.qid in qrels]
        out.append(EvalSet(f"bright/{task}", requests, qrels, run_from_requests(requests), excluded,
                           group="bright"))
    return out


def _bright_docs(task: str, src: Sources) -> Path:
    if src.bright_docs is not None:
        for name in (f"{task}.jsonl", f"{task}.jsonl.gz"):
            if (src.bright_docs / name).is_file():
                return src.bright_docs / name
    if src.online:  # pragma: no cover - needs the hub
        from rl_rerank.data import hf
        from rl_rerank.data.bright import write_documents
        from rl_rerank.paths import cache_dir

        path = cache_dir("bright") / f"{task}.jsonl"
        if not path.is_file():
            write_documents(path, hf.bright_documents(task=task))
        return path
    raise UserError(f"BRIGHT documents for {task!r} are not available offline: pass --bright-docs DIR "
                    f"with {task}.jsonl ({{id, content}} lines) or use --online")


def load_local(path: Path, src: Sources) -> list[EvalSet]:
    if (path / "corpus.jsonl").is_file() or (path / "corpus.jsonl.gz").is_file():
        return load_beir_set(path.name, path, src)
    if (path / "bm25-top100.json").is_file():
        return load_trec_dl(path.name, path, src)  # same layout as the shared TREC-DL folders
    raise UserError(f"{path}: expected a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) or a TREC-DL "
                    "style folder (bm25-top100.json + qrels file)")


def load_benchmark(name: str, src: Sources) -> list[EvalSet]:
    """All evaluation sets a benchmark name stands for."""
    if name in TREC_DL:
        return load_trec_dl(name, src.data_dir / TREC_DL[name], src)
    if name.startswith("beir/"):
        dataset = name.split("/", 1)[1]
        return load_beir_set(name, src.data_dir / f"beir-{dataset}", src)
    if name == "bright" or name.startswith("bright:"):
        tasks = [t.strip() for t in name.split(":", 1)[1].split(",") if t.strip()] if ":" in name else None
        return load_bright_tasks(tasks, src)
    path = Path(name)
    if path.is_dir():
        return load_local(path, src)
    raise UserError(f"unknown benchmark {name!r}: use trec-dl-2019, trec-dl-2020, beir/<dataset>, "
                    "bright[:task,...] or a local folder")

"""First-stage BM25 with bm25s: pure Python, no Java; the index is built once per corpus and cached.

Defaults follow Pyserini's BEIR / MS MARCO setting: k1=0.9, b=0.4, Lucene's BM25 variant, Snowball English
stemming (PyStemmer) and English stopwords; documents are title + text (BEIR) or content (BRIGHT). The
corpus is streamed while tokenizing (only token ids are kept), and the index lives under
cache_dir("bm25", key) where the key covers the corpus file (path, mtime, size) and every parameter, so a
changed corpus or setting gets a new index and an unchanged one is reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from rl_rerank.data.atomic import publish_folder
from rl_rerank.data.auto import corpus_file, corpus_format, iter_docs
from rl_rerank.data.types import Query, Run
from rl_rerank.errors import DataError, clip
from rl_rerank.paths import cache_dir

log = logging.getLogger(__name__)
FORMAT_VERSION = 1  # bump when the cached layout or tokenization changes


@dataclass(frozen=True)
class BM25Params:
    k1: float = 0.9
    b: float = 0.4
    method: str = "lucene"
    stemmer: str | None = "english"  # Snowball stemmer name for PyStemmer, None for no stemming
    stopwords: str | None = "en"  # bm25s stopword list, None for none


def index_key(path: str | Path, fmt: str, params: BM25Params) -> str:
    import bm25s

    f = corpus_file(path).resolve()
    st = f.stat()
    blob = json.dumps(
        [str(f), st.st_mtime_ns, st.st_size, fmt, asdict(params), bm25s.__version__, FORMAT_VERSION], sort_keys=True
    )
    return f"{f.stem.split('.')[0]}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _tokenizer(params: BM25Params):
    import bm25s

    stemmer = None
    if params.stemmer:
        import Stemmer

        stemmer = Stemmer.Stemmer(params.stemmer)
    return bm25s.tokenization.Tokenizer(stemmer=stemmer, stopwords=params.stopwords or [])


class BM25Index:
    """A bm25s retriever, its tokenizer vocabulary and the docids in index order."""

    def __init__(self, retriever, tokenizer, docids: list[str], folder: Path | None, built: bool, seconds: float):
        self.retriever = retriever
        self.tokenizer = tokenizer
        self.docids = docids
        self.folder = folder
        self.built = built  # True when this call built the index, False when it came from the cache
        self.seconds = seconds  # build or load time

    @property
    def num_docs(self) -> int:
        return len(self.docids)

    def search(
        self,
        queries: Mapping[str, Query | str] | Iterable[Query],
        k: int = 100,
        exclude: Mapping[str, Iterable[str]] | None = None,
        batch_size: int = 64,
        progress: bool = True,
        n_threads: int = -1,
    ) -> Run:
        """Top-k per query (documents with a positive score only). Ids in `exclude[qid]` are dropped and
        replaced by the next best, so each query still gets k results (BRIGHT's protocol). `n_threads=-1`:
        every core scores queries of a batch in parallel."""
        items = _query_items(queries)
        dropped = {q: set(v) for q, v in (exclude or {}).items() if v}
        run: Run = {}
        bar = tqdm(total=len(items), desc="BM25 retrieve", unit="q", disable=not progress)
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            ids = self.tokenizer.tokenize([t for _, t in batch], update_vocab=False, show_progress=False)
            extra = max((len(dropped.get(q, ())) for q, _ in batch), default=0)
            depth = min(self.num_docs, k + extra)
            docs, scores = self.retriever.retrieve(ids, k=depth, show_progress=False, n_threads=n_threads)
            for (qid, _), row_docs, row_scores in zip(batch, docs, scores, strict=True):
                drop = dropped.get(qid, ())
                ranked: dict[str, float] = {}
                for i, s in zip(row_docs.tolist(), row_scores.tolist(), strict=True):
                    if s <= 0 or len(ranked) >= k:
                        break
                    docid = self.docids[i]
                    if docid not in drop:
                        ranked[docid] = float(s)
                run[qid] = ranked
            bar.update(len(batch))
        bar.close()
        return run


def _query_items(queries) -> list[tuple[str, str]]:
    if isinstance(queries, Mapping):
        return [(qid, q.text if isinstance(q, Query) else str(q)) for qid, q in queries.items()]
    return [(q.qid, q.text) for q in queries]


def load_or_build_index(
    corpus: str | Path,
    fmt: str | None = None,
    params: BM25Params | None = None,
    progress: bool = True,
) -> BM25Index:
    """The cached index for this corpus and these parameters, built (and cached) on first use."""
    import bm25s

    params = params or BM25Params()
    path = corpus_file(corpus)
    fmt = fmt or corpus_format(path)
    root = cache_dir("bm25")
    folder = root / index_key(path, fmt, params)
    t0 = time.perf_counter()
    if (folder / "meta.json").is_file():
        retriever = bm25s.BM25.load(str(folder), mmap=False, show_progress=False)
        tokenizer = _tokenizer(params)
        tokenizer.load_vocab(str(folder))
        saved = json.loads((folder / "docids.json").read_text(encoding="utf-8"))
        return BM25Index(retriever, tokenizer, saved, folder, built=False, seconds=time.perf_counter() - t0)

    tokenizer = _tokenizer(params)
    docids: list[str] = []

    def texts() -> Iterator[str]:
        for doc in iter_docs(path, fmt):
            docids.append(doc.docid)
            yield doc.full_text()

    token_ids = list(
        tqdm(tokenizer.streaming_tokenize(texts(), update_vocab=True), desc="BM25 tokenize", unit="doc",
             disable=not progress)
    )  # fmt: skip
    if not token_ids:
        raise DataError(path, None, "at least one document")
    if len(set(docids)) != len(docids):
        first: dict[str, int] = {}
        for i, d in enumerate(docids, 1):
            if d in first:  # a run keyed by docid would silently merge the two documents' scores
                raise DataError(path, None, f"unique document ids, but {clip(d)} is document {first[d]} and {i}")
            first[d] = i
    retriever = bm25s.BM25(k1=params.k1, b=params.b, method=params.method)
    retriever.index((token_ids, tokenizer.get_vocab_dict()), show_progress=progress)
    seconds = time.perf_counter() - t0

    def write(tmp: Path) -> None:
        retriever.save(str(tmp), show_progress=False)
        tokenizer.save_vocab(str(tmp))
        (tmp / "docids.json").write_text(json.dumps(docids), encoding="utf-8")
        meta = {"corpus": str(path.resolve()), "format": fmt, "params": asdict(params), "num_docs": len(docids),
                "bm25s": bm25s.__version__, "build_seconds": round(seconds, 2)}  # fmt: skip
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    # the complete folder appears at once (meta.json marks it usable); if another process finished the same
    # index first, theirs is kept
    publish_folder(folder, write)
    return BM25Index(retriever, tokenizer, docids, folder, built=True, seconds=seconds)


def bm25_run(
    corpus: str | Path,
    queries: Mapping[str, Query | str] | Iterable[Query],
    k: int = 100,
    fmt: str | None = None,
    params: BM25Params | None = None,
    exclude: Mapping[str, Iterable[str]] | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> Run:
    """BM25 top-k for a query set over a BEIR corpus (folder or corpus.jsonl) or BRIGHT documents file."""
    index = load_or_build_index(corpus, fmt, params, progress=progress)
    return index.search(queries, k=k, exclude=exclude, batch_size=batch_size, progress=progress)

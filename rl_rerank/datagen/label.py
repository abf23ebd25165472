"""Teacher labelling: a strong model labels training pairs or windows; the results become SFT data.

What is labelled follows the paradigm's `teacher_labels` ("scores" or "lists"; the packaged ones:)
- pointwise (ERank): k sampled integer scores per (query, document); the kept label is the sample closest
  to the mean of the usable samples (ties: the earliest), with that sample's reasoning.
- listwise (ReasonRank): k sampled permutations per window; the kept list is the sample with the highest
  NDCG@10 against the judged grades, and only when that NDCG@10 >= `threshold` (self-consistency filter).

Resumable: every finished item (kept or not) is appended to `<output>.partial` at once and flushed; a rerun
skips the items recorded there. The output file is written atomically at the end from the journal, in plan
order, so an interrupted and an uninterrupted run produce the same file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rl_rerank.data._io import iter_jsonl
from rl_rerank.data.atomic import atomic_open, repair_torn_tail, write_json
from rl_rerank.datagen.examples import PlannedItem, teacher_labels_of
from rl_rerank.datagen.sources import TeacherList, TeacherScore, labelled_record_listwise, labelled_record_pointwise
from rl_rerank.errors import ConfigError, UserError

log = logging.getLogger(__name__)


@dataclass
class LabelSettings:
    """How the teacher samples and what is kept."""

    paradigm: str = field(default="pointwise", metadata={
        "help": "a paradigm whose teacher_labels are scores (pointwise) or lists (listwise permutations)"})
    samples: int = field(default=3, metadata={"help": "samples per pair/window (ERank: 3)"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature of the teacher"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling"})
    max_new_tokens: int = field(default=1024, metadata={"help": "completion budget (reasoning included)"})
    threshold: float = field(default=0.4, metadata={"help": "listwise: keep a list when NDCG@10 >= this"})
    cutoff: int = field(default=10, metadata={"help": "listwise: NDCG cutoff of the filter"})
    accept_repaired: bool = field(default=False, metadata={
        "help": "listwise: also accept permutations the parser had to repair (duplicates / missing ids)"})
    batch_size: int = field(default=16, metadata={"help": "items per engine call (and per journal flush)"})
    seed: int = field(default=0, metadata={"help": "sample j uses seed + j"})
    model_name: str = field(default="", metadata={"help": "teacher name recorded in every line"})

    def __post_init__(self):
        teacher_labels_of(self.paradigm)  # ConfigError naming the paradigms a teacher can label
        if self.samples < 1:
            raise ConfigError("samples must be >= 1")


@dataclass
class LabelStats:
    items: int = 0
    resumed: int = 0  # finished in an earlier run, not recomputed
    labelled: int = 0  # computed in this run
    kept: int = 0
    dropped_no_usable_sample: int = 0
    dropped_below_threshold: int = 0
    samples: int = 0
    parse_ok: int = 0
    parse_repaired: int = 0
    parse_failed: int = 0
    mean_kept_ndcg: float | None = None
    journal_lines_skipped: int = 0  # journal lines that did not parse: their items were labelled again

    def summary(self) -> str:
        return (f"{self.kept}/{self.items} kept ({self.resumed} resumed, {self.labelled} labelled now); "
                f"parse: {self.parse_ok} ok, {self.parse_repaired} repaired, {self.parse_failed} failed of "
                f"{self.samples} samples; dropped: {self.dropped_no_usable_sample} with no usable sample, "
                f"{self.dropped_below_threshold} below the NDCG threshold")


# ------------------------------------------------------------------------------------- pure decision logic


def consensus_score(scores: Sequence[int | None]) -> int | None:
    """Index of the usable sample closest to the mean of the usable samples (ERank), ties -> earliest.

    None entries are unusable samples (parse failures). Returns None when no sample is usable.
    """
    usable = [(i, s) for i, s in enumerate(scores) if s is not None]
    if not usable:
        return None
    mean = sum(s for _, s in usable) / len(usable)
    return min(usable, key=lambda t: (abs(t[1] - mean), t[0]))[0]


def ndcg_at(order: Sequence[int], grades: Sequence[int], k: int = 10) -> float:
    """NDCG@k of a permutation (prompt positions, best first) against the grades, trec_eval linear gain.
    0.0 when no document has a positive grade (the filter then drops the list)."""
    from rl_rerank.rewards.metrics import ndcg_at_k

    return float(ndcg_at_k(list(order), {i: max(0, int(g)) for i, g in enumerate(grades)}, k))


def best_permutation(orders: Sequence[list[int] | None], grades: Sequence[int], k: int = 10
                     ) -> tuple[int | None, list[float | None]]:
    """(index of the sample with the highest NDCG@k, ties -> earliest; every sample's NDCG or None)."""
    ndcgs = [ndcg_at(o, grades, k) if o is not None else None for o in orders]
    usable = [(i, v) for i, v in enumerate(ndcgs) if v is not None]
    if not usable:
        return None, ndcgs
    return max(usable, key=lambda t: (t[1], -t[0]))[0], ndcgs


# ------------------------------------------------------------------------------------- keys and journal


def item_key(item: PlannedItem) -> str:
    """Stable id of a planned item: the query and its documents in prompt order."""
    ids = "\x1f".join(d.docid for d in item.docs)
    digest = hashlib.sha1(f"{item.query.qid}\x1e{ids}".encode()).hexdigest()[:16]
    return f"{item.query.qid}:{digest}"


def journal_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".partial")


def journal_header(settings: LabelSettings) -> dict:
    """The settings that change what is kept; a journal written with other settings is not reused."""
    d = asdict(settings)
    d.pop("batch_size")
    return {"journal": "rl_rerank.label/1", "settings": d}


def read_journal(path: Path, header: dict | None = None, skipped: list[int] | None = None) -> dict[str, dict]:
    """key -> record for every complete line (callers cut a torn last line first: repair_torn_tail).

    Lines that are not JSON objects go into `skipped` (their items are redone). With `header`, a journal whose
    header differs raises UserError: mixing labels made with different settings would silently change the
    output.
    """
    done: dict[str, dict] = {}
    if not path.is_file():
        return done
    for lineno, rec in iter_jsonl(path, skipped=[] if skipped is None else skipped):
        if lineno == 1 and "journal" in rec:
            if header is not None and rec != header:
                changed = sorted(k for k in header["settings"] if rec.get("settings", {}).get(k)
                                 != header["settings"][k])
                raise UserError(f"{path}: journal of an earlier run with other settings ({', '.join(changed)}); "
                                f"rerun with the same settings to resume, or delete it to start over")
            continue
        if "key" in rec:
            done[rec["key"]] = rec
    return done


# ------------------------------------------------------------------------------------- labelling


def _sample(engine, prompts: list, settings: LabelSettings) -> list[list[str]]:
    """settings.samples completions per prompt: one engine call per sample index with seed + j, so engines
    that seed per request (vLLM) still give k different samples."""
    from rl_rerank.engines import GenerationSettings

    out: list[list[str]] = [[] for _ in prompts]
    for j in range(settings.samples):
        gen = GenerationSettings(max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                                 top_p=settings.top_p, seed=settings.seed + j)
        for i, g in enumerate(engine.generate(prompts, gen)):
            out[i].append(g.text if hasattr(g, "text") else str(g))
    return out


def _decide(item: PlannedItem, texts: list[str], paradigm, settings: LabelSettings) -> dict:
    """One journal record for an item from its k completions."""
    n = len(item.docs)
    parsed = [paradigm.parse(t, n) for t in texts]
    counts = {"ok": 0, "repaired": 0, "failed": 0}
    for p in parsed:
        counts[p.status] += 1
    rec: dict[str, Any] = {"parse": counts, "kept": False}
    failed = [t[:200] for t, p in zip(texts, parsed, strict=True) if not p.usable]
    if failed:
        rec["failed_texts"] = failed  # heads of unparseable samples, to see what the teacher did wrong
    if teacher_labels_of(settings.paradigm) == "scores":
        scores = [int(p.value) if p.usable and p.value is not None else None for p in parsed]
        idx = consensus_score(scores)
        rec["samples"] = scores
        if idx is None:
            rec["reason"] = "no usable sample"
            return rec
        kept = scores[idx]
        assert kept is not None  # consensus_score picks a usable sample
        teacher = TeacherScore(kept, parsed[idx].reasoning, [s for s in scores if s is not None])
        rec["record"] = labelled_record_pointwise(item.query, item.docs[0], item.grades[0], teacher,
                                                  settings.model_name)
        rec["kept"] = True
        return rec
    orders = [list(p.value) if (p.status == "ok" or (settings.accept_repaired and p.usable)) and p.value
              is not None and sorted(p.value) == list(range(n)) else None for p in parsed]
    idx, ndcgs = best_permutation(orders, item.grades, settings.cutoff)
    rec["ndcgs"] = ndcgs
    if idx is None:
        rec["reason"] = "no usable sample"
        return rec
    best, best_ndcg = orders[idx], ndcgs[idx]
    assert best is not None and best_ndcg is not None  # best_permutation picks a usable sample
    if best_ndcg < settings.threshold:
        rec["reason"] = "below threshold"
        return rec
    ranked = TeacherList([d.docid for d in item.docs], [item.docs[i].docid for i in best],
                         parsed[idx].reasoning, best_ndcg)
    rec["record"] = labelled_record_listwise(item.query, item.docs, item.grades, ranked, settings.model_name)
    rec["kept"] = True
    return rec


def label_items(items: Sequence[PlannedItem], engine, paradigm, settings: LabelSettings, output: str | Path,
                tokenizer=None, progress: bool = True) -> LabelStats:
    """Label `items` with the teacher `engine`, journal each finished item, then write `output` atomically."""
    output = Path(output)
    journal = journal_path(output)
    header = journal_header(settings)
    repair_torn_tail(journal)  # a torn last line would glue the next record onto it
    skipped: list[int] = []
    done = read_journal(journal, header, skipped)
    fresh = not journal.is_file() or journal.stat().st_size == 0
    keys = [item_key(it) for it in items]
    stats = LabelStats(items=len(items), journal_lines_skipped=len(skipped))
    todo = [(k, it) for k, it in zip(keys, items, strict=True) if k not in done]
    stats.resumed = len(items) - len(todo)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), initial=stats.resumed, desc=f"label {settings.paradigm}", unit="item")
    journal.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(journal, "a", encoding="utf-8") as fh:
            if fresh:
                fh.write(json.dumps(header) + "\n")
            for start in range(0, len(todo), settings.batch_size):
                batch = todo[start:start + settings.batch_size]
                prompts = [paradigm.messages(it.query, it.docs, tokenizer) for _, it in batch]
                completions = _sample(engine, prompts, settings)
                for (key, item), texts in zip(batch, completions, strict=True):
                    rec = _decide(item, texts, paradigm, settings)
                    rec["key"] = key
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    done[key] = rec
                    stats.labelled += 1
                fh.flush()
                os.fsync(fh.fileno())
                if bar is not None:
                    bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    _finish(keys, done, output, stats)
    return stats


def _finish(keys: list[str], done: dict[str, dict], output: Path, stats: LabelStats) -> None:
    kept_ndcg = []
    with atomic_open(output) as fh:
        for key in keys:
            rec = done[key]
            for status, n in rec.get("parse", {}).items():
                setattr(stats, f"parse_{status}", getattr(stats, f"parse_{status}") + n)
                stats.samples += n
            if rec.get("kept"):
                stats.kept += 1
                fh.write(json.dumps(rec["record"], ensure_ascii=False) + "\n")
                if rec["record"].get("ndcg") is not None:
                    kept_ndcg.append(rec["record"]["ndcg"])
            elif rec.get("reason") == "below threshold":
                stats.dropped_below_threshold += 1
            else:
                stats.dropped_no_usable_sample += 1
    stats.mean_kept_ndcg = sum(kept_ndcg) / len(kept_ndcg) if kept_ndcg else None
    write_json(output.with_name(output.name + ".stats.json"), asdict(stats))
    log.info("teacher labelling: %s", stats.summary())


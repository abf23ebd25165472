"""Evaluation with ir_measures, measures by name: nDCG@k, R@k, RR@k (alias MRR@k), AP (alias MAP), P@k ...

Conventions (those of trec_eval -c, which ir_measures follows): a query with qrels but no ranking counts
as 0, queries ranked but not judged are ignored, means are over the judged queries. nDCG uses the graded
gains as they are; binary measures (R, RR, AP, P, Success) count grade >= 1 as relevant unless
`rel_threshold` says otherwise. TREC DL reports recall and MAP with grade >= 2 (`rel_threshold=2`, which is
ir_measures' `R(rel=2)@100`). BRIGHT removes each query's excluded ids before scoring: `remove_excluded`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal, overload

import ir_measures

from rl_rerank.data.types import Qrels, Run
from rl_rerank.errors import UserError, clip

BINARY = {"R", "RR", "AP", "P", "Success", "SetP", "SetR", "SetF", "Rprec", "infAP"}
_ALIASES = {"MRR": "RR", "MAP": "AP", "Recall": "R", "NDCG": "nDCG", "ndcg": "nDCG"}


def parse_measure(name: str, rel_threshold: int | None = None) -> ir_measures.Measure:
    """An ir_measures Measure from a name like 'nDCG@10', 'MRR@10', 'MAP', 'R(rel=2)@100'.

    `rel_threshold` is added to binary measures that do not already set `rel`.
    """
    m = re.fullmatch(r"\s*([A-Za-z_]+)(.*)", name, re.S)
    if not m:
        raise UserError(f"unknown measure {clip(name, 60)}; use ir_measures names like nDCG@10, R@100, RR@10, AP")
    base, rest = m.groups()
    base = _ALIASES.get(base, base)
    shown = clip(name, 60)
    try:
        measure = ir_measures.parse_measure(base + rest)
    except (ValueError, NameError, KeyError, AttributeError, SyntaxError, AssertionError, TypeError) as exc:
        raise UserError(f"unknown measure {shown} ({clip(str(exc), 120, quote=False)}); use names like "
                        f"nDCG@10, R@100, RR@10, AP") from None
    cutoff = measure.params.get("cutoff")
    if cutoff is not None and cutoff < 1:
        raise UserError(f"measure {shown}: the cutoff must be at least 1")
    if not ir_measures.DefaultPipeline.supports(measure):
        raise UserError(f"measure {shown}: no installed ir_measures provider computes it")
    if rel_threshold is not None and measure.NAME in BINARY and "rel" not in measure.params:
        measure = measure(rel=int(rel_threshold))
    return measure


def check_measures(names: Iterable[str]) -> None:
    """Parse every measure name up front (eval checks them before loading data or writing runs)."""
    for name in names:
        parse_measure(name)


# per_query picks the return shape; the overloads let callers index the result without a cast.
@overload
def evaluate(run: Run, qrels: Qrels, measures: Iterable[str] = ..., per_query: Literal[False] = ...,
             rel_threshold: int | None = ...) -> dict[str, float]: ...
@overload
def evaluate(run: Run, qrels: Qrels, measures: Iterable[str] = ..., *, per_query: Literal[True],
             rel_threshold: int | None = ...) -> dict[str, dict[str, float]]: ...
@overload
def evaluate(run: Run, qrels: Qrels, measures: Iterable[str] = ..., per_query: bool = ...,
             rel_threshold: int | None = ...) -> dict[str, float] | dict[str, dict[str, float]]: ...
def evaluate(
    run: Run,
    qrels: Qrels,
    measures: Iterable[str] = ("nDCG@10",),
    per_query: bool = False,
    rel_threshold: int | None = None,
) -> dict[str, float] | dict[str, dict[str, float]]:
    """Mean of each measure over the judged queries: {name: value}, keyed by the names as given.

    With per_query=True: {name: {qid: value}} for every judged query (0.0 where the run has none).
    """
    if isinstance(measures, str):
        measures = [measures]
    names = list(dict.fromkeys(measures))
    parsed = {name: parse_measure(name, rel_threshold) for name in names}
    if not qrels:
        raise UserError("no qrels to evaluate against")
    # ir_measures wants every run entry non-empty and scores as floats; queries without any ranked
    # document are simply left out (they then count as 0, like missing ones).
    clean_run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if docs}
    clean_qrels = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items() if docs}
    if not per_query:
        if not clean_run:
            return {name: 0.0 for name in names}
        agg = ir_measures.calc_aggregate(list(parsed.values()), clean_qrels, clean_run)
        return {name: float(agg[m]) for name, m in parsed.items()}
    out: dict[str, dict[str, float]] = {name: {q: 0.0 for q in clean_qrels} for name in names}
    by_measure = {m: name for name, m in parsed.items()}
    if clean_run:
        for metric in ir_measures.iter_calc(list(parsed.values()), clean_qrels, clean_run):
            out[by_measure[metric.measure]][metric.query_id] = float(metric.value)
    return out


def remove_excluded(run: Run, excluded: Mapping[str, Iterable[str]]) -> Run:
    """A copy of the run without each query's excluded ids (BRIGHT: the query's own source and its
    near-duplicates must not count for or against a system)."""
    out: Run = {}
    for qid, docs in run.items():
        drop = excluded.get(qid)
        if drop:
            drop = set(drop)
            out[qid] = {d: s for d, s in docs.items() if d not in drop}
        else:
            out[qid] = dict(docs)
    return out


def macro_average(per_task: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Mean over tasks of each measure (BRIGHT averages over queries within a task, then over tasks)."""
    if not per_task:
        return {}
    names = list(next(iter(per_task.values())))
    return {n: sum(t[n] for t in per_task.values()) / len(per_task) for n in names}

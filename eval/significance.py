"""Paired significance tests between two systems over the same queries (per-query values from ir_measures).

Why paired: both systems rank the same queries, and query difficulty varies far more than system quality,
so the per-query difference is what carries the signal (Smucker, Allan & Carterette, CIKM 2007, recommend
the paired t-test and the randomization test for IR; both are here and usually agree).

Conventions:
- The queries are those with judgments (qrels). A judged query that a run does not rank counts as 0 for
  that run (trec_eval -c, the convention of `evaluate`); unjudged queries are ignored.
- diff = a - b per query. A win is diff > 1e-9, a loss diff < -1e-9, anything else a tie.
- The paired t-test is two-sided; its 95% CI is mean diff +- t(0.975, n-1) * sd / sqrt(n), so the CI excludes
  0 exactly when p_t < 0.05. Zero spread: p = 1 when every diff is 0, p = 0 when all are equal and non-zero.
- The randomization test flips the sign of each query's difference (under H0 both systems are exchangeable
  per query) and counts how often |mean| is at least the observed one: exact enumeration of all 2^m sign
  patterns when the m non-zero differences are few (`exact_max`), otherwise `samples` random patterns with
  a fixed seed and the observed pattern counted in ((hits + 1) / (samples + 1)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from rl_rerank.data.types import Qrels, Run

TIE = 1e-9


def paired_values(a: Mapping[str, float], b: Mapping[str, float],
                  qids: Sequence[str] | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(qids, a values, b values) aligned; `qids` defaults to the union of both (sorted), missing -> 0."""
    keys = list(qids) if qids is not None else sorted(set(a) | set(b))
    va = np.array([float(a.get(q, 0.0)) for q in keys], dtype=np.float64)
    vb = np.array([float(b.get(q, 0.0)) for q in keys], dtype=np.float64)
    return keys, va, vb


def paired_t(diffs: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Two-sided paired t-test on the differences: {t, p, ci_low, ci_high} (nan t/CI when n < 2)."""
    from scipy import stats

    d = np.asarray(diffs, dtype=np.float64)
    n = len(d)
    mean = float(d.mean()) if n else 0.0
    if n < 2:
        return {"t": math.nan, "p": 1.0, "ci_low": math.nan, "ci_high": math.nan}
    sd = float(d.std(ddof=1))
    if sd <= TIE * max(1.0, abs(mean)) or not math.isfinite(sd):
        zero = abs(mean) <= TIE
        return {"t": 0.0 if zero else math.copysign(math.inf, mean), "p": 1.0 if zero else 0.0,
                "ci_low": mean, "ci_high": mean}
    se = sd / math.sqrt(n)
    t = mean / se
    p = float(2.0 * stats.t.sf(abs(t), df=n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df=n - 1)) * se
    return {"t": t, "p": min(1.0, p), "ci_low": mean - half, "ci_high": mean + half}


def randomization_p(diffs: Sequence[float], samples: int = 20000, seed: int = 0, exact_max: int = 16) -> float:
    """Two-sided paired randomization (sign-flip) test of mean diff = 0; exact when few diffs are non-zero."""
    d = np.asarray(diffs, dtype=np.float64)
    d = d[np.abs(d) > TIE]  # zero differences look the same under any sign: they never change the count
    m = len(d)
    if m == 0:
        return 1.0
    observed = abs(d.sum())
    slack = 1e-12 * max(1.0, float(np.abs(d).sum()))  # floating-point sums of the same set must count as equal
    if m <= exact_max:
        # every sign pattern: bit j of the pattern index flips query j
        patterns = np.arange(2 ** m, dtype=np.int64)[:, None]
        signs = 1.0 - 2.0 * ((patterns >> np.arange(m, dtype=np.int64)) & 1)
        hits = int(np.count_nonzero(np.abs(signs @ d) >= observed - slack))
        return hits / 2 ** m
    rng = np.random.default_rng(seed)
    hits, left = 0, samples
    while left > 0:  # in chunks: samples x m signs at once would be large for big query sets
        k = min(left, 4096)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(k, m))
        hits += int(np.count_nonzero(np.abs(signs @ d) >= observed - slack))
        left -= k
    return (hits + 1) / (samples + 1)


def compare_values(a: Mapping[str, float], b: Mapping[str, float], qids: Sequence[str] | None = None,
                   measure: str = "", seed: int = 0, samples: int = 20000) -> dict:
    """Paired comparison of per-query values {qid: value} of system a against system b."""
    keys, va, vb = paired_values(a, b, qids)
    diffs = va - vb
    t = paired_t(diffs)
    n = len(keys)
    return {"measure": measure, "n": n,
            "mean_a": float(va.mean()) if n else 0.0, "mean_b": float(vb.mean()) if n else 0.0,
            "diff": float(diffs.mean()) if n else 0.0, "ci_low": t["ci_low"], "ci_high": t["ci_high"],
            "t": t["t"], "p_t": t["p"], "p_rand": randomization_p(diffs, samples=samples, seed=seed),
            "wins": int(np.count_nonzero(diffs > TIE)), "ties": int(np.count_nonzero(np.abs(diffs) <= TIE)),
            "losses": int(np.count_nonzero(diffs < -TIE))}


def seed_mean(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """{qid: mean over runs} for per-query values of one setting trained with several seeds.

    Every run must cover the same queries: a query missing from one seed would silently average fewer values.
    """
    if not runs:
        raise ValueError("seed_mean needs at least one run")
    keys = set(runs[0])
    for i, r in enumerate(runs[1:], start=2):
        if set(r) != keys:
            missing = sorted(keys ^ set(r))[:3]
            raise ValueError(f"run {i} does not cover the same queries as run 1 (differs on {missing})")
    return {q: float(np.mean([r[q] for r in runs])) for q in sorted(keys)}


def compare_settings(a_runs: Sequence[Mapping[str, float]], b_runs: Sequence[Mapping[str, float]],
                     measure: str = "", seed: int = 0) -> dict:
    """Paired comparison of two training settings, each given as per-query values of one or more seeds.

    Training order alone moves a small dev set's mean by as much as the settings differ, so each setting's
    per-query value is first averaged over its seeds (that shrinks the training-noise part of each query's
    value), and the paired tests then run over the queries as in `compare_values`. Adds `seeds_a`/`seeds_b`
    and each seed's mean (`seed_means_a`/`seed_means_b`) so the spread between seeds stays visible.
    """
    a, b = seed_mean(a_runs), seed_mean(b_runs)
    if set(a) != set(b):
        raise ValueError("the two settings were scored on different queries")
    result = compare_values(a, b, sorted(a), measure=measure, seed=seed)
    result.update(seeds_a=len(a_runs), seeds_b=len(b_runs),
                  seed_means_a=[float(np.mean(list(r.values()))) for r in a_runs],
                  seed_means_b=[float(np.mean(list(r.values()))) for r in b_runs])
    return result


def per_query(run: Run, qrels: Qrels, measure: str = "nDCG@10", rel_threshold: int | None = None) -> dict[str, float]:
    """{qid: value} for every judged query (0.0 where the run has none), through ir_measures."""
    from rl_rerank.eval.metrics import evaluate

    return evaluate(run, qrels, [measure], per_query=True, rel_threshold=rel_threshold)[measure]


def compare(run_a: Run | str | Path, run_b: Run | str | Path, qrels: Qrels | str | Path, measure: str = "nDCG@10",
            rel_threshold: int | None = None, seed: int = 0) -> dict:
    """Paired comparison of run a against run b on the judged queries of `qrels`.

    Runs and qrels are dicts or TREC files. Returns {measure, n, mean_a, mean_b, diff, ci_low, ci_high, t, p_t,
    p_rand, wins, ties, losses}; diff = mean_a - mean_b, wins count queries where a is better.
    """
    from rl_rerank.data import read_qrels, read_run

    qrels = read_qrels(qrels) if isinstance(qrels, (str, Path)) else qrels
    run_a = read_run(run_a) if isinstance(run_a, (str, Path)) else run_a
    run_b = read_run(run_b) if isinstance(run_b, (str, Path)) else run_b
    va = per_query(run_a, qrels, measure, rel_threshold)
    vb = per_query(run_b, qrels, measure, rel_threshold)
    return compare_values(va, vb, sorted(va), measure=measure, seed=seed)


def format_p(p: float) -> str:
    if not math.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def sentence(result: Mapping, name_a: str = "A", name_b: str = "B", alpha: float = 0.05) -> str:
    """One sentence for a `compare` result; significant means paired t p < alpha (its CI then excludes 0)."""
    m, n, diff = result.get("measure") or "the measure", result["n"], result["diff"]
    ci = (f"95% CI {result['ci_low']:+.3f}..{result['ci_high']:+.3f}"
          if math.isfinite(result["ci_low"]) else "no CI")
    detail = (f"({ci}, paired t {format_p(result['p_t'])}, randomization {format_p(result['p_rand'])}; "
              f"{result['wins']} wins / {result['losses']} losses")
    detail += f" / {result['ties']} ties)" if result["ties"] else ")"
    if result["p_t"] < alpha and diff != 0:
        verb = "beats" if diff > 0 else "trails"
        return f"{name_a} {verb} {name_b} by {diff:+.3f} {m} on {n} queries {detail}."
    return f"no significant difference between {name_a} and {name_b} on {m} over {n} queries: {diff:+.3f} {detail}."

"""Evaluation report: JSON (everything), a markdown table (first stage, reranked, delta per dataset), paired
tests (reranked vs first stage, and vs another system with --compare), per-query TSVs and a bar chart PNG.
Sets with the same group (BRIGHT tasks) also get one averaged row: mean over tasks (no test: the tests are
per set, over its queries)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rl_rerank import tables
from rl_rerank.data.atomic import atomic_open, write_json, write_text
from rl_rerank.data.types import Qrels, Run
from rl_rerank.eval.metrics import macro_average

SIDE_NAMES = {"first_stage": "first stage", "reranked": "reranked"}


def set_statistics(runs: dict[str, Run], qrels: Qrels, measures: Sequence[str], tests: Sequence[tuple[str, str]],
                   rel_threshold: int | None = None, seed: int = 0) -> tuple[dict, list[dict]]:
    """Per-query values {side: {measure: {qid: value}}} of every run, and one paired test per (a, b) side pair
    and measure (`compare` results plus "a" and "b"). Judged queries missing from a run count 0."""
    from rl_rerank.eval.metrics import evaluate
    from rl_rerank.eval.significance import compare_values

    values = {side: evaluate(run, qrels, measures, per_query=True, rel_threshold=rel_threshold)
              for side, run in runs.items()}
    out = []
    for a, b in tests:
        for m in measures:
            qids = sorted(values[a][m])
            out.append({"a": a, "b": b, **compare_values(values[a][m], values[b][m], qids, measure=m, seed=seed)})
    return values, out


def _label(side: str, labels: dict | None) -> str:
    return (labels or {}).get(side) or SIDE_NAMES.get(side, side)


def _p_cell(p: float) -> str:
    return "n/a" if p != p else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def per_query_tsv(values: dict, measures: Sequence[str], labels: dict | None = None) -> str:
    """qid then one column per (run, measure): the values every test of the set was computed from."""
    sides = list(values)
    cols = [(side, m) for m in measures for side in sides]
    qids = sorted(next(iter(values[sides[0]].values()))) if sides else []
    lines = ["qid\t" + "\t".join(f"{_label(s, labels)} {m}" for s, m in cols)]
    for q in qids:
        lines.append(q + "\t" + "\t".join(f"{values[s][m].get(q, 0.0):.6f}" for s, m in cols))
    return "\n".join(lines) + "\n"


def tests_table(rows: Sequence[dict], labels: dict | None = None) -> str:
    """Markdown table of every row's paired tests (rows without tests are skipped); empty when none."""
    lines = []
    for r in rows:
        for t in r.get("tests", []):
            ci = f"{t['ci_low']:+.4f}..{t['ci_high']:+.4f}" if t["ci_low"] == t["ci_low"] else "n/a"
            lines.append([r["name"], f"{_label(t['a'], labels)} vs {_label(t['b'], labels)}", t["measure"], t["n"],
                          f"{t['mean_a']:.4f}", f"{t['mean_b']:.4f}", f"{t['diff']:+.4f}", ci, _p_cell(t["p_t"]),
                          _p_cell(t["p_rand"]), f"{t['wins']}/{t['ties']}/{t['losses']}"])
    if not lines:
        return ""
    head = ["dataset", "comparison", "measure", "queries", "mean a", "mean b", "diff (a - b)", "95% CI",
            "p (paired t)", "p (randomization)", "wins/ties/losses"]
    return tables.markdown_table(head, lines)


def test_sentences(rows: Sequence[dict], measure: str, labels: dict | None = None) -> list[str]:
    """One verdict sentence per test of `measure` (significance.sentence), prefixed by the set's name."""
    from rl_rerank.eval.significance import sentence

    return [f"{r['name']}: " + sentence(t, _label(t["a"], labels), _label(t["b"], labels))
            for r in rows for t in r.get("tests", []) if t["measure"] == measure]


def group_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows plus one macro-average row per group (BRIGHT: average over tasks of per-task query means)."""
    out = list(rows)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("group"):
            groups.setdefault(r["group"], []).append(r)
    for group, members in groups.items():
        avg = {"name": f"{group} (mean of {len(members)})", "group": None, "average_of": [m["name"] for m in members],
               "queries": sum(m["queries"] for m in members)}
        for side in ("first_stage", "reranked") + (("compare",) if all("compare" in m for m in members) else ()):
            avg[side] = macro_average({m["name"]: m[side] for m in members})
        out.append(avg)
    return out


def results_table(rows: Sequence[dict], measures: Sequence[str]) -> str:
    """The results table: per set, first stage and reranked per measure, and the difference."""
    head = ["dataset", "queries"]
    for m in measures:
        head += [f"first stage {m}", f"reranked {m}", "delta"]
    lines = []
    for r in rows:
        cells = [r["name"], str(r["queries"])]
        for m in measures:
            a, b = r["first_stage"][m], r["reranked"][m]
            cells += [f"{a:.4f}", f"{b:.4f}", f"{b - a:+.4f}"]
        lines.append(cells)
    return tables.markdown_table(head, lines)


def bar_chart(path: str | Path, rows: Sequence[dict], measure: str, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in rows]
    xs = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(rows) + 2), 3.6))
    ax.bar([x - 0.2 for x in xs], [r["first_stage"][measure] for r in rows], width=0.4, label="first stage")
    ax.bar([x + 0.2 for x in xs], [r["reranked"][measure] for r in rows], width=0.4, label="reranked")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(measure)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)


def write_report(out_dir: str | Path, rows: Sequence[dict], measures: Sequence[str], meta: dict) -> dict:
    """report.json, report.md, report.png and per_query/<set>.tsv (rows holding "per_query") in out_dir;
    returns the JSON object."""
    out_dir = Path(out_dir)
    table_rows = group_rows(rows)
    report = {**meta, "measures": list(measures), "results": table_rows}
    write_json(out_dir / "report.json", report)
    for r in rows:
        if r.get("per_query"):
            write_text(out_dir / "per_query" / f"{r['name'].replace('/', '_')}.tsv",
                       per_query_tsv(r["per_query"], measures, meta.get("labels")))
    title = f"{meta.get('model') or 'model'}" + (f" + {meta['adapter']}" if meta.get("adapter") else "") + \
        f" ({meta.get('paradigm')})"
    md = f"# Evaluation: {title}\n\n" + results_table(table_rows, measures)
    labels = meta.get("labels")
    tests = tests_table(table_rows, labels)
    if tests:
        md += ("\n## Paired tests\n\nPer query a - b over the set's judged queries (a query a run misses counts 0); "
               "95% CI from the paired t distribution; randomization: sign-flip test (exact when 2^n is small, "
               "else 20,000 seeded samples).\n\n" + tests + "\n"
               + "".join(f"- {line}\n" for line in test_sentences(table_rows, measures[0], labels)))
    write_text(out_dir / "report.md", md)
    bar_chart(out_dir / "report.png", table_rows, measures[0], title)
    return report

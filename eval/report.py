"""Evaluation report: JSON (everything), a markdown table (first stage, reranked, delta per dataset) and a
bar chart PNG. Sets with the same group (BRIGHT tasks) also get one averaged row: mean over tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rl_rerank.data.atomic import atomic_open, write_json, write_text


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
        for side in ("first_stage", "reranked"):
            names = list(members[0][side])
            avg[side] = {n: sum(m[side][n] for m in members) / len(members) for n in names}
        out.append(avg)
    return out


def markdown_table(rows: Sequence[dict], measures: Sequence[str]) -> str:
    head = ["dataset", "queries"]
    for m in measures:
        head += [f"first stage {m}", f"reranked {m}", "delta"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["name"], str(r["queries"])]
        for m in measures:
            a, b = r["first_stage"][m], r["reranked"][m]
            cells += [f"{a:.4f}", f"{b:.4f}", f"{b - a:+.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
    """report.json, report.md and report.png in out_dir; returns the JSON object."""
    out_dir = Path(out_dir)
    table_rows = group_rows(rows)
    report = {**meta, "measures": list(measures), "results": table_rows}
    write_json(out_dir / "report.json", report)
    title = f"{meta.get('model') or 'model'}" + (f" + {meta['adapter']}" if meta.get("adapter") else "") + \
        f" ({meta.get('paradigm')})"
    write_text(out_dir / "report.md", f"# Evaluation: {title}\n\n" + markdown_table(table_rows, measures))
    bar_chart(out_dir / "report.png", table_rows, measures[0], title)
    return report

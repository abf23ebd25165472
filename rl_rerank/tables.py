"""Markdown tables, the one writer behind evaluation reports, model cards, the demo and benchmark printouts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def _cell(value: object) -> str:
    """str(value) made safe inside a table row: a '|' would start a new column and a newline end the row."""
    return " ".join(str(value).replace("|", "\\|").split())


def markdown_table(head: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table ending in a newline; every row must have one cell per column."""
    names = [_cell(h) for h in head]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for i, row in enumerate(rows):
        cells = [_cell(c) for c in row]
        if len(cells) != len(names):
            raise ValueError(f"table row {i + 1} has {len(cells)} cells for {len(names)} columns")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

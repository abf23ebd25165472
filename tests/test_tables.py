"""The one markdown table writer (rl_rerank/tables.py) behind reports, model cards, the demo and benchmarks."""

from __future__ import annotations

import pytest

from rl_rerank.tables import markdown_table


def test_table_layout_and_cells():
    text = markdown_table(["set", "nDCG@10"], [["trec-dl-2020", "0.5000"], ["beir/scifact", 0.25]])
    assert text == "| set | nDCG@10 |\n|---|---|\n| trec-dl-2020 | 0.5000 |\n| beir/scifact | 0.25 |\n"


def test_a_cell_can_never_break_the_table():
    text = markdown_table(["run", "error"], [["a|b", "line one\nline two"]])
    assert text.splitlines()[2] == "| a\\|b | line one line two |"
    with pytest.raises(ValueError, match="row 1 has 1 cells for 2 columns"):
        markdown_table(["a", "b"], [["only one"]])


def test_eval_report_and_model_card_tables():
    from rl_rerank.eval.report import results_table
    from rl_rerank.models.export import _eval_table

    rows = [{"name": "scifact", "queries": 300, "first_stage": {"nDCG@10": 0.665}, "reranked": {"nDCG@10": 0.7}}]
    assert results_table(rows, ["nDCG@10"]).splitlines()[2] == "| scifact | 300 | 0.6650 | 0.7000 | +0.0350 |"
    card = _eval_table({"measures": ["nDCG@10"], "results": rows, "paradigm": "pointwise"})
    assert card.startswith("| dataset | queries | first stage nDCG@10 | reranked nDCG@10 |\n|---|---|---|---|\n"
                           "| scifact | 300 | 0.6650 | 0.7000 |\n\nSetting: ")

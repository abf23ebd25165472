"""ERank's reference scores: the stage-1 model scores every GRPO row, the column reaches the reward, and the
scores are cached by weights and rows."""

from __future__ import annotations

import json
from pathlib import Path

from rl_rerank.training.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_reference_scores_reach_the_reward_in_a_real_grpo_run(tiny_model, tmp_path):
    from rl_rerank.rewards import build_reward_funcs
    from rl_rerank.training.grpo import run_grpo
    from rl_rerank.training.reference import score_rows

    seen: list[list] = []
    (erank,), _ = build_reward_funcs({"erank": 1.0}, reasoning=False, max_score=10)

    def recording(completions, **columns):
        seen.append(list(columns["ref_score"]))
        return erank(completions, **columns)

    cfg = load_config("grpo", REPO / "configs" / "smollm2-dl" / "grpo.yaml", {
        "model": str(tiny_model), "init_from": None, "output_dir": str(tmp_path / "grpo"),
        "data": {"build": {"max_queries": 2}}, "docs_per_query": 4, "paradigm_args": {"max_doc_tokens": 16},
        "trl": {"max_steps": 1, "num_generations": 2, "per_device_train_batch_size": 8, "max_completion_length": 4}})
    out = run_grpo(cfg, reward_funcs={"erank": recording})
    saved = json.loads((out / "ref_scores.json").read_text())
    assert seen and len(seen[0]) == 8
    # the values the reward saw are the stage-1 (here: base) model's scores of those rows (None = no
    # probability on any score label, which a random tiny model can give)
    assert {None if v is None else round(v, 6) for v in seen[0]} <= \
        {None if v is None else round(v, 6) for v in saved["scores"]}
    card = json.loads((out / "run_card.json").read_text())
    assert card["data"]["reference"]["mode"] == "stage1" and card["data"]["reference"]["rows"] == 8
    # an independent scoring of the first row gives the same number
    from datasets import load_from_disk  # noqa: F401  (datasets is what the trainer used)

    from rl_rerank.datagen.rows import prepare_rows

    ds, _ = prepare_rows("grpo", cfg, "test")
    again = score_rows([ds["prompt"][0]], str(tiny_model), None)
    assert (again[0] is None and saved["scores"][0] is None) or abs(again[0] - saved["scores"][0]) < 1e-4


def test_reference_cache_is_reused_and_keyed_by_rows(tmp_path, tiny_model, monkeypatch):
    from rl_rerank.training import reference

    calls = []
    monkeypatch.setattr(reference, "score_rows", lambda prompts, *a, **k: calls.append(len(prompts)) or
                        [float(i) for i in range(len(prompts))])
    p1 = [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]]
    assert reference.reference_scores(p1, str(tiny_model), None, tmp_path) == [0.0, 1.0]
    assert reference.reference_scores(p1, str(tiny_model), None, tmp_path) == [0.0, 1.0]
    assert calls == [2]
    p2 = p1 + [[{"role": "user", "content": "c"}]]
    reference.reference_scores(p2, str(tiny_model), None, tmp_path)
    assert calls == [2, 3]

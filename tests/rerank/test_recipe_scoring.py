"""`rerank` / `eval` score a trained model the way its recipe trained and chose it: prompt budgets and pointwise
scoring (score_mode, max_score) come from the recipe beside the weights, whichever folder holds it (an adapter,
a fully fine-tuned model, an exported adapter or merged model); the command line wins; nothing else carries
over. Before, only an adapter's budgets did, so a fully fine-tuned stage 1 (the smollm2-dl recipe) was reranked
with ERank's s* x P(s*) and 256-token passages while the demo scored it with the expected score and 64."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from rl_rerank.cli import main
from rl_rerank.commands._reranker import add_reranker_arguments, reranker_options
from rl_rerank.errors import UserError
from rl_rerank.paradigms.base import DEFAULT_MAX_DOC_TOKENS
from rl_rerank.rerank.options import (
    RerankerOptions,
    build_paradigm,
    open_cache,
    strategy_settings,
    trained_recipe,
    with_recipe_budgets,
)

RECIPE = {"stage": "sft", "paradigm": "pointwise", "reasoning": False,
          "paradigm_args": {"max_score": 5, "max_doc_tokens": 64, "score_mode": "expected"}}


def parse(*argv: str) -> RerankerOptions:
    p = argparse.ArgumentParser()
    add_reranker_arguments(p)
    return reranker_options(p.parse_args(list(argv)))


def folder_with(tmp_path: Path, name: str, file: str, recipe: dict) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / file).write_text(yaml.safe_dump(recipe))
    return folder


# Every place a recipe can sit, as the flags that point at it.
READERS = {
    "training adapter (config.yaml)": ("config.yaml", lambda f: ["--adapter", str(f)]),
    "fully fine-tuned model (config.yaml)": ("config.yaml", lambda f: ["--model", str(f)]),
    "exported adapter (recipe.yaml)": ("recipe.yaml", lambda f: ["--adapter", str(f)]),
    "exported merged model (recipe.yaml)": ("recipe.yaml", lambda f: ["--model", str(f)]),
}


@pytest.mark.parametrize("reader", list(READERS))
def test_scoring_and_budgets_come_from_the_recipe_beside_the_weights(tmp_path, reader):
    file, flags = READERS[reader]
    folder = folder_with(tmp_path, "weights", file, RECIPE)
    paradigm = build_paradigm(parse(*flags(folder)))
    assert (paradigm.score_mode, paradigm.max_score, paradigm.max_doc_tokens) == ("expected", 5, 64)
    # the command line wins over the recipe
    paradigm = build_paradigm(parse(*flags(folder), "--score-mode", "erank", "--max-doc-tokens", "32"))
    assert (paradigm.score_mode, paradigm.max_score, paradigm.max_doc_tokens) == ("erank", 5, 32)


def test_the_adapter_recipe_wins_over_the_model_recipe(tmp_path):
    """GRPO's adapter on a fully fine-tuned stage 1: both folders hold a recipe; the adapter's trained last."""
    model = folder_with(tmp_path, "sft", "config.yaml", {**RECIPE, "paradigm_args": {"score_mode": "erank"}})
    adapter = folder_with(tmp_path, "grpo", "config.yaml", RECIPE)
    assert build_paradigm(parse("--model", str(model), "--adapter", str(adapter))).score_mode == "expected"


def test_without_a_recipe_the_defaults_hold(tmp_path):
    for flags in ([], ["--model", str(tmp_path)]):
        paradigm = build_paradigm(parse(*flags))
        assert (paradigm.score_mode, paradigm.max_score, paradigm.max_doc_tokens) == \
            ("erank", 10, DEFAULT_MAX_DOC_TOKENS)


def test_what_does_not_carry_over(tmp_path):
    # a model folder's config.yaml that names no paradigm is some other tool's file
    other = folder_with(tmp_path, "other", "config.yaml", {"paradigm_args": {"score_mode": "expected"}})
    assert trained_recipe(None, str(other)) == {}
    assert build_paradigm(parse("--model", str(other))).score_mode == "erank"
    # an unreadable recipe is no recipe
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.yaml").write_text("paradigm: [unclosed\n")
    assert trained_recipe(str(bad)) == {}
    # scoring settings of a listwise recipe do not reach a pointwise run
    listwise = folder_with(tmp_path, "listwise", "config.yaml",
                           {"paradigm": "listwise", "paradigm_args": {"score_mode": "expected", "max_score": 3}})
    paradigm = build_paradigm(parse("--adapter", str(listwise)))
    assert (paradigm.score_mode, paradigm.max_score) == ("erank", 10)
    # the openai engine's adapter is a served name, not a folder: nothing is read
    folder = folder_with(tmp_path, "served", "config.yaml", RECIPE)
    served = parse("--engine", "openai", "--model", "m", "--adapter", str(folder))
    assert build_paradigm(served).score_mode == "erank"


@pytest.mark.parametrize("paradigm", ["pointwise", "listwise", "setwise", "groupwise"])
def test_filled_options_pass_the_check_again_for_every_paradigm(paradigm):
    """The engine re-checks the filled options: only pointwise may carry scoring settings, and filling is
    idempotent (the paradigm's own defaults stay with it)."""
    filled = with_recipe_budgets(parse("--paradigm", paradigm))
    scoring = (filled.score_mode, filled.max_score)
    assert scoring == (("erank", 10) if paradigm == "pointwise" else (None, None))
    assert filled.check() is filled and with_recipe_budgets(filled) is filled
    build_paradigm(filled)


@pytest.mark.parametrize("key, value", [("score_mode", "mean"), ("max_score", "ten"), ("max_score", True),
                                        ("max_doc_tokens", 0), ("max_prompt_tokens", -5)])
@pytest.mark.parametrize("file", ["config.yaml", "recipe.yaml"])
def test_a_bad_recipe_value_is_one_line_naming_file_and_key(tmp_path, dl20_dir, capsys, key, value, file):
    """A hand-edited recipe: exit 2 before any model loads (the folder holds no weights), nothing written."""
    folder = folder_with(tmp_path, "weights", file, {**RECIPE, "paradigm_args": {key: value}})
    out = tmp_path / "run.trec"
    code = main(["rerank", "--model", str(folder), "--input", str(dl20_dir / "bm25-top100.json"), "--output",
                 str(out), "--engine", "transformers"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert str(folder / file) in err[0] and f"paradigm_args.{key}" in err[0]
    assert not out.exists()


def test_score_mode_is_a_pointwise_option():
    with pytest.raises(UserError, match="--score-mode is a pointwise option"):
        parse("--paradigm", "listwise", "--score-mode", "expected")


def test_score_mode_flag_on_the_command_line_exits_2_with_one_line(capsys):
    assert main(["rerank", "--paradigm", "setwise", "--score-mode", "expected", "--input", "x.jsonl",
                 "--output", "y.trec"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--score-mode is a pointwise option" in err[0]


def test_the_resume_cache_keys_the_score_mode(tmp_path):
    """Cached erank scores must not answer an expected-score run."""
    keys = set()
    for mode in ("erank", "expected"):
        opts = parse("--score-mode", mode, "--cache-dir", str(tmp_path), "--engine", "transformers")
        keys.add(open_cache(opts, build_paradigm(opts), strategy_settings(opts))[0])
    assert len(keys) == 2

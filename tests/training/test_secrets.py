"""Secrets never reach disk: trl.hub_token (and any token/secret/password/api_key key) is redacted in the
config.yaml a run writes, in the exported recipe.yaml and in the model card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rl_rerank.models.export import model_card, redact_recipe
from rl_rerank.training.config import dump_yaml, is_secret_key, load_config, redact_secrets

REPO = Path(__file__).resolve().parents[2]
TOKEN = "hf_SeCrEtVaLuE123"


@pytest.mark.parametrize("key,secret", [
    ("hub_token", True), ("hf_token", True), ("token", True), ("HUB-TOKEN", True), ("api_key", True),
    ("openai_api_key", True), ("client_secret", True), ("password", True), ("wandb_apikey", True),
    ("max_doc_tokens", False), ("max_new_tokens", False), ("eos_token", False), ("pad_token_id", False),
    ("include_tokens_per_second", False), ("hub_model_id", False), ("learning_rate", False),
])
def test_secret_key_names(key, secret):
    assert is_secret_key(key) is secret


def test_run_config_yaml_redacts_hub_token(tmp_path):
    cfg = load_config("sft", REPO / "configs/demo/sft.yaml", [f"trl.hub_token={TOKEN}", f"output_dir={tmp_path}",
                                                              "trl.push_to_hub=false"])
    assert cfg.trl["hub_token"] == TOKEN  # the run itself still has it
    text = dump_yaml(cfg)
    assert TOKEN not in text
    tree = yaml.safe_load(text)
    assert tree["trl"]["hub_token"] == "<redacted>"
    assert tree["trl"]["learning_rate"] == cfg.trl["learning_rate"]  # everything else as run
    assert tree["paradigm_args"] == cfg.paradigm_args


def test_nested_and_listed_secrets_are_redacted_and_empty_ones_kept():
    tree = {"a": {"api_key": "k", "hub_token": None, "x": [{"password": "p"}, 1]}, "max_doc_tokens": 96}
    assert redact_secrets(tree) == {"a": {"api_key": "<redacted>", "hub_token": None,
                                          "x": [{"password": "<redacted>"}, 1]}, "max_doc_tokens": 96}


def test_export_recipe_and_card_redact_a_recipe_written_before_the_fix():
    old = f"stage: sft\ntrl:\n  hub_token: {TOKEN}\n  learning_rate: 0.0001\n"
    recipe = redact_recipe(old)
    assert TOKEN not in recipe and yaml.safe_load(recipe)["trl"] == {"hub_token": "<redacted>",
                                                                     "learning_rate": 0.0001}
    broken = f"trl: {{\nhub_token: {TOKEN}\n  api_key:   sk-123  \n"  # not YAML: redacted line by line
    assert TOKEN not in redact_recipe(broken) and "sk-123" not in redact_recipe(broken)
    card = model_card("base", Path("adapter"), recipe, {"stage": "sft", "data": {"hf_token": TOKEN}}, None, False)
    assert TOKEN not in card and "<redacted>" in card


def test_export_writes_no_secret(tiny_model, tmp_path):
    from lora_helpers import make_training_folder

    from rl_rerank.models.export import export

    train = make_training_folder(tiny_model, tmp_path / "train")
    (train / "config.yaml").write_text(f"stage: sft\ntrl:\n  hub_token: {TOKEN}\n  learning_rate: 0.0001\n")
    (train / "run_card.json").write_text(json.dumps({"stage": "sft", "data": {"token": TOKEN}}))
    out = tmp_path / "export"
    export(train, out)
    for path in out.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert "hub_token: <redacted>" in (out / "recipe.yaml").read_text()

"""Each recipe's CPU variant: SFT then GRPO for two steps on the tiny model (SmolLM2 in the slow test),
producing adapters that load back and rerank; resume after an interruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rl_rerank.training.config import load_config

REPO = Path(__file__).resolve().parents[2]
SMALL = {"max_doc_tokens": 32}


def _cfg(stage: str, recipe: str, name: str, model: str, out: Path, **extra):
    overrides = {"model": model, "output_dir": str(out), "data": {"build": {"max_queries": 4}},
                 "paradigm_args": SMALL, "trl": {"max_steps": 2, "save_steps": 2, "max_length": 320}}
    if stage == "grpo":
        overrides["trl"] = {"max_steps": 2, "save_steps": 2, "num_generations": 2, "max_completion_length": 8}
    for key, value in extra.items():
        if isinstance(value, dict):
            overrides.setdefault(key, {}).update(value)
        else:
            overrides[key] = value
    if stage == "grpo":
        overrides["trl"].pop("max_length", None)
    return load_config(stage, REPO / "configs" / recipe / f"{name}.yaml", overrides)


def _rerank_with(model_path: Path, adapter: Path, paradigm_name: str, reasoning: bool = False) -> str:
    """Load the adapter back, generate for one real prompt and parse it (parsers never raise)."""
    import torch

    from rl_rerank.data.types import Candidate, Query
    from rl_rerank.models import ModelSpec, load_model
    from rl_rerank.paradigms import get_paradigm

    model, tok = load_model(ModelSpec(model=str(model_path), adapter=str(adapter)))
    paradigm = get_paradigm(paradigm_name, reasoning=reasoning)
    docs = [Candidate("d1", "Aspirin lowers fever."), Candidate("d2", "Rivers flow to the sea.")]
    n = 1 if paradigm.single_document else 2
    msgs = paradigm.messages(Query("q", "what lowers fever?"), docs[:n], tok)
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=6, do_sample=False)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    parsed = paradigm.parse(text, n)
    assert parsed.status in ("ok", "repaired", "failed")
    return text


RECIPES = [("erank-pointwise", "pointwise", {"docs_per_query": 4, "trl": {"per_device_train_batch_size": 8}}),
           ("grouprank-groupwise", "groupwise", {"trl": {"per_device_train_batch_size": 2}}),
           ("reasonrank-listwise", "listwise", {"trl": {"per_device_train_batch_size": 2}})]


@pytest.mark.parametrize("recipe,paradigm,grpo_extra", RECIPES, ids=[r[0] for r in RECIPES])
def test_recipe_cpu_variant_sft_then_grpo_on_tiny(recipe, paradigm, grpo_extra, tiny_model, tmp_path):
    from rl_rerank.training.grpo import run_grpo
    from rl_rerank.training.sft import run_sft

    sft_out = run_sft(_cfg("sft", recipe, "sft-cpu", "tiny", tmp_path / "sft",
                           trl={"per_device_train_batch_size": 2}))
    card = json.loads((sft_out / "run_card.json").read_text())
    assert card["global_step"] == 2 and card["data"]["n_queries"] == 4 and card["train_loss"] > 0
    assert (sft_out / "adapter_model.safetensors").is_file() and (sft_out / "config.yaml").is_file()

    rl_out = run_grpo(_cfg("grpo", recipe, "grpo-cpu", "tiny", tmp_path / "grpo", init_from=str(sft_out),
                           **grpo_extra))
    card = json.loads((rl_out / "run_card.json").read_text())
    assert card["global_step"] == 2 and card["init_from"] == str(sft_out)
    assert card["reward_per_step"], "TRL logged no reward"
    assert not (rl_out / "ref").exists()  # the frozen KL reference copy is not shipped
    resolved = load_config("grpo", rl_out / "config.yaml", {"init_from": str(sft_out)})
    assert resolved.rewards == card["rewards"]
    _rerank_with(tiny_model, rl_out, paradigm)


def test_rank_r1_grpo_only_on_tiny(tiny_model, tmp_path):
    from rl_rerank.training.grpo import run_grpo

    out = run_grpo(_cfg("grpo", "rank-r1-setwise", "grpo-cpu", "tiny", tmp_path / "grpo",
                        trl={"per_device_train_batch_size": 2}))
    card = json.loads((out / "run_card.json").read_text())
    assert card["global_step"] == 2 and card["init_from"] is None and card["lora"]["r"] == 8
    _rerank_with(tiny_model, out, "setwise")


def _interrupt(at: int):
    """Trainer callback that stops the run like Ctrl-C right after step `at`."""
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == at:
                raise KeyboardInterrupt

    return Interrupt()


def test_sft_resumes_from_last_checkpoint_after_interruption(tiny_model, tmp_path):
    from rl_rerank.training.sft import run_sft

    out = tmp_path / "sft"
    cfg = _cfg("sft", "erank-pointwise", "sft-cpu", "tiny", out,
               trl={"max_steps": 4, "save_steps": 2, "per_device_train_batch_size": 2})
    with pytest.raises(KeyboardInterrupt):
        run_sft(cfg, callbacks=[_interrupt(3)])
    assert (out / "checkpoint-2").is_dir() and not (out / "run_card.json").exists()
    run_sft(cfg)  # resume: null -> automatic
    card = json.loads((out / "run_card.json").read_text())
    assert card["resumed_from"].endswith("checkpoint-2")
    assert card["global_step"] == 4 and card["steps_this_run"] == 2
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert [h["step"] for h in state["log_history"] if "loss" in h] == [1, 2, 3, 4]


def test_grpo_resumes_from_checkpoint(tiny_model, tmp_path):
    from rl_rerank.training.grpo import run_grpo

    out = tmp_path / "grpo"
    base = dict(trl={"per_device_train_batch_size": 2, "max_steps": 2, "save_steps": 1})
    run_grpo(_cfg("grpo", "rank-r1-setwise", "grpo-cpu", "tiny", out, **base))
    cfg = _cfg("grpo", "rank-r1-setwise", "grpo-cpu", "tiny", out,
               trl={"per_device_train_batch_size": 2, "max_steps": 3, "save_steps": 1})
    run_grpo(cfg)
    card = json.loads((out / "run_card.json").read_text())
    assert card["resumed_from"].endswith("checkpoint-2") and card["global_step"] == 3
    assert card["steps_this_run"] == 1


@pytest.mark.slow
def test_demo_recipe_on_smollm2(smollm2, tmp_path):
    """The demo's two stages on the real embedded model, a few steps each; records s/step and peak memory."""
    from rl_rerank.training.grpo import run_grpo
    from rl_rerank.training.sft import run_sft

    sft = load_config("sft", REPO / "configs/demo/sft.yaml",
                      {"output_dir": str(tmp_path / "sft"), "data": {"build": {"max_queries": 4}},
                       "trl": {"max_steps": 2, "per_device_train_batch_size": 4}})
    sft_out = run_sft(sft)
    c1 = json.loads((sft_out / "run_card.json").read_text())
    assert c1["global_step"] == 2 and c1["train_loss"] > 0
    rl = load_config("grpo", REPO / "configs/demo/grpo.yaml",
                     {"output_dir": str(tmp_path / "grpo"), "init_from": str(sft_out),
                      "data": {"build": {"max_queries": 4}}, "trl": {"max_steps": 1}})
    rl_out = run_grpo(rl)
    c2 = json.loads((rl_out / "run_card.json").read_text())
    assert c2["global_step"] == 1 and c2["group_checks"]["erank"]["incomplete_calls"] == 0
    _rerank_with(smollm2, rl_out, "pointwise")
    print(f"\nSmolLM2 demo: SFT {c1['seconds_per_step']} s/step, GRPO {c2['seconds_per_step']} s/step, "
          f"peak RSS {max(c1['peak_rss_mb_rank0'], c2['peak_rss_mb_rank0'])} MB")


def test_qlora_sft_on_tiny(tiny_model, tmp_path, monkeypatch):
    """4-bit base + LoRA (QLoRA) through bitsandbytes on CPU, with the repacking guard switched on."""
    import bitsandbytes as bnb

    from rl_rerank.training import policy as common
    from rl_rerank.training.sft import run_sft

    seen = {}
    original = common.load_policy

    def spy(cfg, want_peft_config):
        model, tok, peft_config = original(cfg, want_peft_config)
        layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
        seen["n"] = len(layers)
        seen["guarded"] = all(m.support_avx512bf16_for_cpu is False for m in layers)
        seen["peft_config"] = peft_config
        return model, tok, peft_config

    import rl_rerank.training.sft as sft_mod

    monkeypatch.setattr(sft_mod, "load_policy", spy)
    out = run_sft(_cfg("sft", "erank-pointwise", "sft-cpu", "tiny", tmp_path / "q", quantization="4bit",
                       trl={"max_steps": 1, "per_device_train_batch_size": 2}))
    card = json.loads((out / "run_card.json").read_text())
    assert card["quantization"] == "4bit" and card["global_step"] == 1
    assert seen["n"] > 0 and seen["guarded"] and seen["peft_config"] is None  # LoRA attached before the trainer
    assert (out / "adapter_model.safetensors").is_file()

"""`rl-rerank import-verl` on a folder shaped like verl's model_merger output (built here: the base weights
at the top, lora_adapter/ with verl's adapter_config.json and PEFT-layout safetensors): the converted adapter
gives the same logits as the same LoRA saved by PEFT itself."""

from __future__ import annotations

import json

from rl_rerank.cli import main


def _verl_merged(tiny_model, root, alpha=16):
    """MERGED/ as verl writes it for a LoRA run, plus the same adapter saved by PEFT (the reference)."""
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    merged = root / "merged"
    base.save_pretrained(merged)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(merged)
    cfg = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
    peft = get_peft_model(base, cfg)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft.save_pretrained(root / "reference")
    lora = merged / "lora_adapter"
    lora.mkdir()
    conf = cfg.to_dict()  # what verl writes: LoraConfig fields, no base model, task_type null
    conf.update(peft_type="LORA", task_type=None, base_model_name_or_path=None, lora_alpha=alpha,
                target_modules=sorted(conf["target_modules"]))
    (lora / "adapter_config.json").write_text(json.dumps(conf, default=str))
    save_file({k: v.contiguous() for k, v in get_peft_model_state_dict(peft).items()},
              str(lora / "adapter_model.safetensors"))
    return merged, root / "reference"


def test_converted_adapter_loads_like_the_peft_original(tiny_model, tmp_path):
    import torch

    from rl_rerank.models import ModelSpec, load_model

    merged, reference = _verl_merged(tiny_model, tmp_path)
    out = tmp_path / "adapter"
    assert main(["import-verl", "--checkpoint", str(merged), "--out", str(out)]) == 0
    conf = json.loads((out / "adapter_config.json").read_text())
    assert conf["base_model_name_or_path"] == str(merged.resolve()) and conf["task_type"] == "CAUSAL_LM"
    assert (out / "tokenizer_config.json").is_file() and "verl" in (out / "README.md").read_text()
    ids = torch.tensor([[1, 5, 9, 42, 7, 3]])

    def logits(model, adapter):  # the loader rerank/eval/export use
        m, _ = load_model(ModelSpec(model=str(model), adapter=adapter and str(adapter)))
        with torch.no_grad():
            return m(input_ids=ids).logits

    got, ref, plain = logits(merged, out), logits(tiny_model, reference), logits(tiny_model, None)
    assert torch.equal(got, ref) and not torch.allclose(got, plain)  # the LoRA applies exactly as PEFT's own


def test_missing_alpha_sharded_checkpoint_and_full_model_are_explained(tiny_model, tmp_path, capsys):
    merged, _ = _verl_merged(tiny_model, tmp_path, alpha=0)
    out = tmp_path / "adapter"
    assert main(["import-verl", "--checkpoint", str(merged), "--out", str(out)]) == 2
    assert "--lora-alpha" in capsys.readouterr().err and not out.exists()
    assert main(["import-verl", "--checkpoint", str(merged), "--out", str(out), "--lora-alpha", "16"]) == 0
    assert json.loads((out / "adapter_config.json").read_text())["lora_alpha"] == 16
    shard = tmp_path / "actor"
    shard.mkdir()
    (shard / "model_world_size_2_rank_0.pt").write_bytes(b"x")
    assert main(["import-verl", "--checkpoint", str(shard), "--out", str(tmp_path / "o")]) == 2
    assert "verl.model_merger merge" in capsys.readouterr().err
    full = tmp_path / "full"
    full.mkdir()
    (full / "config.json").write_text("{}")
    assert main(["import-verl", "--checkpoint", str(full), "--out", str(tmp_path / "o")]) == 2
    assert f"--model {full}" in capsys.readouterr().err

"""Export a trained adapter for others: a clean adapter folder, optionally a merged model, and a model card.

Training folders hold checkpoints, optimizer states and logs; users of a reranker need only the adapter
weights, its config, the tokenizer, and a card saying what it is (base model, recipe, data, eval numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

from rl_rerank.data.atomic import publish_folder, write_text
from rl_rerank.errors import UserError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json")


def adapter_base(adapter: Path) -> str | None:
    cfg = adapter / "adapter_config.json"
    if not cfg.is_file():
        raise UserError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
    return json.loads(cfg.read_text()).get("base_model_name_or_path")


def check_export_target(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty folder unless --overwrite: export never replaces what the user did not ask it to."""
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: folder exists and is not empty; pass --overwrite to replace the files export "
                        f"writes there (other files are kept), or choose a new folder")


def export(adapter: str | Path, out: str | Path, base: str | None = None, merge: bool = False,
           report: str | Path | None = None, overwrite: bool = False) -> dict:
    """Write OUT/ (adapter: weights as safetensors, config, tokenizer, README.md, recipe) and with merge
    OUT/merged/ (full model in safetensors, tokenizer, README.md, recipe). Returns what was written.

    OUT must be new or empty unless `overwrite`; then only the files export writes are replaced. Everything
    is staged in a temporary folder first, so a failure (out of disk, a crash) leaves OUT as it was."""
    from rl_rerank.data.outputs import check_outputs
    from rl_rerank.models.load import ModelSpec, load_model

    adapter, out = Path(adapter), Path(out)
    base = base or adapter_base(adapter)
    if out.resolve() == adapter.resolve() or out.resolve() in adapter.resolve().parents:
        raise UserError(f"{out}: export into a new folder, not the adapter folder or one that contains it")
    check_outputs(folders=[out], inputs=[adapter, report, base])
    check_export_target(out, overwrite)
    model, tokenizer = load_model(ModelSpec(model=base, adapter=str(adapter)))
    tok_src = adapter if (adapter / "tokenizer_config.json").is_file() else None
    if tok_src is not None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tok_src)
    recipe = redact_recipe((adapter / "config.yaml").read_text()) if (adapter / "config.yaml").is_file() else None
    run_card = json.loads((adapter / "run_card.json").read_text()) if (adapter / "run_card.json").is_file() else None
    results = json.loads(Path(report).read_text()) if report else None

    written = {"adapter": str(out)}

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)  # only adapter_config.json + adapter_model.safetensors
        tokenizer.save_pretrained(tmp)
        if recipe is not None:
            write_text(tmp / "recipe.yaml", recipe)
        write_text(tmp / "README.md", model_card(base, adapter, recipe, run_card, results, merged=False))
        if merge:
            mtmp = tmp / "merged"
            merged = model.merge_and_unload()
            merged.save_pretrained(mtmp, safe_serialization=True)
            tokenizer.save_pretrained(mtmp)
            if recipe is not None:  # rerank/eval read the prompt budgets and scoring from it (rerank.options)
                write_text(mtmp / "recipe.yaml", recipe)
            write_text(mtmp / "README.md", model_card(base, adapter, recipe, run_card, results, merged=True))
            written["merged"] = str(out / "merged")

    publish_folder(out, write, existing="merge")  # a new OUT appears whole; an existing one keeps others' files
    return written


def redact_recipe(text: str) -> str:
    """config.yaml with secrets redacted (older training folders wrote trl.hub_token in clear): what goes into
    the exported recipe.yaml and the model card. Unreadable YAML is redacted line by line."""
    import re

    import yaml

    from rl_rerank.training.config import REDACTED, is_secret_key, read_yaml, redact_secrets

    try:
        tree = read_yaml(text)
    except yaml.YAMLError:
        tree = None
    if isinstance(tree, dict):
        return yaml.safe_dump(redact_secrets(tree), sort_keys=False)
    line = re.compile(r"^(\s*-?\s*)([^\s:#{}\[\],]+)(\s*:\s*)(\S.*)$")
    out = []
    for row in text.splitlines():
        m = line.match(row)
        out.append(f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}" if m and is_secret_key(m.group(2)) else row)
    return "\n".join(out) + "\n"


def _eval_table(results: dict) -> str:
    from rl_rerank.tables import markdown_table

    measures = results.get("measures") or ["nDCG@10"]
    head = ["dataset", "queries"] + [f"{side} {m}" for m in measures for side in ("first stage", "reranked")]
    rows = []
    for r in results.get("results", []):
        cells = [r["name"], str(r.get("queries", ""))]
        for m in measures:
            cells += [f"{r['first_stage'].get(m, float('nan')):.4f}", f"{r['reranked'].get(m, float('nan')):.4f}"]
        rows.append(cells)
    setup = {k: results.get(k) for k in ("paradigm", "reasoning", "engine", "top_k") if k in results}
    return markdown_table(head, rows) + f"\nSetting: {json.dumps(setup)}\n"


def model_card(base: str | None, adapter: Path, recipe: str | None, run_card: dict | None, results: dict | None,
               merged: bool) -> str:
    """README.md for the export. Not TRL's generate_model_card (trl/trainer/utils.py, TRL 1.16): it works
    offline, but its template is a chat model's (a text-generation pipeline quick start, hub links for base and
    data, library_name always transformers, no recipe or evaluation section), and a reranker card needs the
    rerank command, the recipe, the training rows and the eval table instead."""
    what = "a full model (LoRA merged into the base weights)" if merged else "a LoRA adapter"
    parts = [
        "---", f"base_model: {base}", "library_name: " + ("transformers" if merged else "peft"),
        "tags: [reranking, rl_rerank, lora]", "---", "",
        "# Reranker exported by rl_rerank", "",
        f"This folder holds {what} trained with rl_rerank for LLM reranking.", "",
        f"- Base model: `{base}`", f"- Source adapter: `{adapter}`", "",
        "## Use", "",
        "```bash",
        ("rl-rerank rerank --model THIS_FOLDER" if merged else f"rl-rerank rerank --model {base} --adapter THIS_FOLDER")
        + " --input requests.jsonl --output run.trec --engine vllm",
        "```", "",
    ]
    if not merged:
        parts += ["With vLLM directly: `LLM(model=BASE, enable_lora=True)` and "
                  "`LoRARequest('reranker', 1, THIS_FOLDER)`.", ""]
    parts += ["## Recipe", ""]
    parts += (["```yaml", recipe.rstrip(), "```", ""] if recipe else ["Not recorded with the adapter.", ""])
    parts += ["## Training data", ""]
    if run_card:
        from rl_rerank.training.config import redact_secrets

        run_card = redact_secrets(run_card)
        data = {k: v for k, v in run_card.items() if "data" in k or k in ("stage", "paradigm", "examples", "steps")}
        parts += ["```json", json.dumps(data or run_card, indent=2, default=str)[:4000], "```", ""]
    else:
        parts += ["Not recorded with the adapter.", ""]
    parts += ["## Evaluation", ""]
    parts += [_eval_table(results), ""] if results else ["No evaluation report was given (`--report`).", ""]
    return "\n".join(parts)

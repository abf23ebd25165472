"""Export a trained adapter for others: a clean adapter folder, optionally a merged model, and a model card.

Training folders hold checkpoints, optimizer states and logs; users of a reranker need only the adapter
weights, its config, the tokenizer, and a card saying what it is (base model, recipe, data, eval numbers).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from rl_rerank.data.atomic import write_json, write_text
from rl_rerank.errors import UserError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json")


def adapter_base(adapter: Path) -> str | None:
    cfg = adapter / "adapter_config.json"
    if not cfg.is_file():
        raise UserError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
    return json.loads(cfg.read_text()).get("base_model_name_or_path")


MANIFEST = ".rl_rerank_export.json"  # what the last export wrote into the folder (and may replace)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def check_export_target(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty folder unless --overwrite: export never replaces what the user did not ask it to."""
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: folder exists and is not empty; pass --overwrite to replace the files export "
                        f"writes there (other files are kept), or choose a new folder")


def _publish(staging: Path, out: Path) -> list[str]:
    """Move the staged export into `out`, file by file (os.replace: each file appears whole).

    Only files export writes are touched: this export's files replace their namesakes, and files the previous
    export listed in its manifest but this one did not write are removed (no stale merged/ model beside a new
    adapter). Anything else in `out` (the user's notes, other runs) is left alone. Returns the files written."""
    written = [f for f in _files(staging) if f != MANIFEST]
    old: list[str] = []
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            old = [f for f in json.loads(manifest.read_text(encoding="utf-8")).get("files", []) if isinstance(f, str)]
        except (OSError, ValueError, AttributeError):
            old = []
    for rel in written:
        if (out / rel).is_dir():
            raise UserError(f"{out / rel}: is a folder where export writes a file; move it or choose another --out")
    for rel in written:
        target = out / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target)
        except OSError as exc:
            raise UserError(f"{target}: cannot write it ({exc.strerror or exc})") from None
    for rel in sorted(set(old) - set(written)):
        target = out / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not target.is_file() or target.is_symlink():
            continue  # a manifest only ever names files inside `out`; anything else is not ours to delete
        target.unlink()
        if target.parent != out:
            with contextlib.suppress(OSError):  # only an emptied folder goes, never one holding other files
                target.parent.rmdir()
    write_json(manifest, {"files": written})
    return written


def export(adapter: str | Path, out: str | Path, base: str | None = None, merge: bool = False,
           report: str | Path | None = None, overwrite: bool = False) -> dict:
    """Write OUT/ (adapter: weights as safetensors, config, tokenizer, README.md, recipe) and with merge
    OUT/merged/ (full model in safetensors, tokenizer, README.md). Returns what was written.

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

    new_folder = not out.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent if new_folder else out))
    try:
        model.save_pretrained(tmp, safe_serialization=True)  # only adapter_config.json + adapter_model.safetensors
        tokenizer.save_pretrained(tmp)
        if recipe is not None:
            write_text(tmp / "recipe.yaml", recipe)
        card = model_card(base, adapter, recipe, run_card, results, merged=False)
        write_text(tmp / "README.md", card)
        written = {"adapter": str(out)}
        if merge:
            mtmp = tmp / "merged"
            merged = model.merge_and_unload()
            merged.save_pretrained(mtmp, safe_serialization=True)
            tokenizer.save_pretrained(mtmp)
            write_text(mtmp / "README.md", model_card(base, adapter, recipe, run_card, results, merged=True))
            written["merged"] = str(out / "merged")
        if new_folder:  # the whole folder appears at once
            write_json(tmp / MANIFEST, {"files": _files(tmp)})
            tmp.rename(out)
        else:
            _publish(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)  # the staging folder this call created; never anything of the user's
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
    measures = results.get("measures") or ["nDCG@10"]
    lines = ["| dataset | queries | " + " | ".join(f"first stage {m} | reranked {m}" for m in measures) + " |",
             "|---|---|" + "---|---|" * len(measures)]
    for r in results.get("results", []):
        cells = [r["name"], str(r.get("queries", ""))]
        for m in measures:
            cells += [f"{r['first_stage'].get(m, float('nan')):.4f}", f"{r['reranked'].get(m, float('nan')):.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    setup = {k: results.get(k) for k in ("paradigm", "reasoning", "engine", "top_k") if k in results}
    return "\n".join(lines) + f"\n\nSetting: {json.dumps(setup)}\n"


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
        f"# Reranker exported by rl_rerank", "",
        f"This folder holds {what} trained with rl_rerank for LLM reranking.", "",
        f"- Base model: `{base}`", f"- Source adapter: `{adapter}`", "",
        "## Use", "",
        "```bash",
        (f"rl-rerank rerank --model THIS_FOLDER --input requests.jsonl --output run.trec --engine vllm" if merged else
         f"rl-rerank rerank --model {base} --adapter THIS_FOLDER --input requests.jsonl --output run.trec --engine vllm"),
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

"""ERank's reference scores t_i: the stage-1 model's own score for every GRPO row, computed before stage 2.

ERank's reward keeps a negative ranked below every positive close to the score the SFT model gave it
(0.5 (1 - ((s - t) / 10)^2)); without t every negative is pulled towards 0, which undoes the SFT model's
calibration. One scoring pass over the rows (one forward per document, reading the whole score labels'
probabilities after `<answer>`, as the rerank engines do) gives t = sum_k k P(k) on the 0..max_score scale.

The scores are cached next to the run (`ref_scores.json`), keyed by the stage-1 folder's weights and the rows'
prompts, so a resumed or repeated stage 2 does not score again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

REFERENCE_MODES = ("stage1", "column", "none")


def _digest_rows(prompts: Sequence) -> str:
    h = hashlib.sha256()
    for p in prompts:
        h.update(json.dumps(p, sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def _digest_folder(folder: str | Path) -> str:
    """Content digest of the stage-1 weights (adapter or model safetensors), not of names or sizes."""
    h = hashlib.sha256()
    files = sorted(Path(folder).glob("*.safetensors")) + sorted(Path(folder).glob("*.bin"))
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def score_rows(prompts: Sequence, model: str, adapter: str | None, max_score: int = 10,
               batch_size: int = 16) -> list[float | None]:
    """Expected score sum_k k P(k) of every prompt under model (+ adapter), reading whole score labels; None
    where the model put no probability on any score label (the reward then uses its ref_default)."""
    from rl_rerank.engines.factory import make_engine
    from rl_rerank.paradigms import get_paradigm

    paradigm = get_paradigm("pointwise", reasoning=False, max_score=max_score, score_mode="expected")
    labels = paradigm.score_labels()
    engine = make_engine("transformers", model, adapter, batch_size=batch_size)
    try:
        probs = engine.label_probs(list(prompts), paradigm.answer_prefix(), labels)
    finally:
        engine.close()
    reads = [paradigm.read_probs({int(k): v for k, v in p.items()}) for p in probs]
    return [float(r.value) if r.status == "ok" else None for r in reads]


def reference_scores(prompts: Sequence, model: str, init_from: str | None, cache_dir: str | Path,
                     max_score: int = 10) -> list[float | None]:
    """Scores of the stage-1 model (init_from: adapter or full model folder) for every prompt, cached."""
    from rl_rerank.data.atomic import write_json

    source = init_from or model
    key = {"rows": _digest_rows(prompts), "weights": _digest_folder(source) if Path(source).is_dir() else source,
           "max_score": max_score}
    path = Path(cache_dir) / "ref_scores.json"
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
            if saved.get("key") == key and len(saved.get("scores", [])) == len(prompts):
                return [None if x is None else float(x) for x in saved["scores"]]
        except (json.JSONDecodeError, TypeError, ValueError):
            pass  # a damaged cache is recomputed
    adapter = init_from if init_from and (Path(init_from) / "adapter_config.json").is_file() else None
    base = model if adapter else source
    scores = score_rows(prompts, base, adapter, max_score)
    write_json(path, {"key": key, "scores": scores})
    return scores

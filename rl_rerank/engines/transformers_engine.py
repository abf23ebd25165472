"""In-process transformers engine: the fallback that runs anywhere torch runs (and the reference for vLLM)."""

from __future__ import annotations

from typing import Sequence

from rl_rerank.engines.base import Engine, Generation, GenerationSettings, Messages
from rl_rerank.engines.chat import render_ids


class TransformersEngine(Engine):
    """Batched (left padding, sorted by length) inference under torch.no_grad; LoRA adapters through peft."""

    def __init__(self, model: str | None = None, adapter: str | None = None, dtype: str = "float32",
                 device: str = "cpu", batch_size: int = 8, top_k: int = 64, show_progress: bool = False):
        super().__init__()
        from rl_rerank.models import ModelSpec, load_model

        self.model, self.tokenizer = load_model(ModelSpec(model=model, adapter=adapter, dtype=dtype, device=device),
                                                 merge_adapter=True)
        self.device = device
        self.batch_size = batch_size
        self.top_k = top_k
        self.show_progress = show_progress

    # -- helpers -------------------------------------------------------------------------------------
    def _batches(self, ids: list[list[int]]):
        """Index batches of similar length (less padding), original order restored by the caller."""
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            yield order[start:start + self.batch_size]

    def _pad(self, rows: list[list[int]]):
        import torch

        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):  # left padding: the last position is every row's next-token slot
            input_ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
        return input_ids.to(self.device), mask.to(self.device), pad_id

    # -- Engine --------------------------------------------------------------------------------------
    def next_token_dists(self, prompts: Sequence[Messages], assistant_texts: Sequence[str]) -> list[dict[str, float]]:
        import torch

        ids = [render_ids(self.tokenizer, m, a) for m, a in zip(prompts, assistant_texts)]
        out: list[dict[str, float] | None] = [None] * len(ids)
        with torch.no_grad():
            for batch in self._batches(ids):
                input_ids, mask, _ = self._pad([ids[i] for i in batch])
                # logits_to_keep=1: only the last position goes through the LM head (the vocab-sized matmul)
                logits = self.model(input_ids=input_ids, attention_mask=mask, logits_to_keep=1).logits[:, -1, :].float()
                probs = torch.softmax(logits, dim=-1)
                top = torch.topk(probs, k=min(self.top_k, probs.shape[-1]), dim=-1)
                for row, i in enumerate(batch):
                    dist: dict[str, float] = {}
                    for p, tok in zip(top.values[row].tolist(), top.indices[row].tolist()):
                        text = self.tokenizer.decode([tok])
                        dist[text] = dist.get(text, 0.0) + p
                    out[i] = dist
                    self.counter.add(len(ids[i]), 0)
        self.counter.calls += 1
        return out  # type: ignore[return-value]

    def dists_at_points(self, prompts: Sequence[Messages], prefixes: Sequence[str],
                        points: Sequence[str]) -> list[dict[str, dict[str, float]]]:
        """One forward per prompt for all points when the points' token ids extend each other ("" and "1":
        run prompt + "1" and read the last two positions); separate rows otherwise."""
        import torch

        rows: list[list[int]] = []
        reads: list[list[tuple[int, str, int]]] = []  # per prompt: (row index, point, offset from row end)
        for messages, prefix in zip(prompts, prefixes):
            ids = {p: render_ids(self.tokenizer, messages, prefix + p) for p in points}
            longest = max(points, key=lambda p: len(ids[p]))
            chain = all(ids[longest][:len(ids[p])] == ids[p] for p in points)
            mine = []
            if chain:
                rows.append(ids[longest])
                mine = [(len(rows) - 1, p, len(ids[longest]) - len(ids[p])) for p in points]
            else:
                for p in points:
                    rows.append(ids[p])
                    mine.append((len(rows) - 1, p, 0))
            reads.append(mine)
            self.counter.add(len(ids[longest]), 0)
        keep = 1 + max((off for mine in reads for _, _, off in mine), default=0)
        by_row: dict[int, dict[int, dict[str, float]]] = {}
        with torch.no_grad():
            for batch in self._batches(rows):
                input_ids, mask, _ = self._pad([rows[i] for i in batch])
                logits = self.model(input_ids=input_ids, attention_mask=mask, logits_to_keep=keep).logits.float()
                probs = torch.softmax(logits, dim=-1)
                top = torch.topk(probs, k=min(self.top_k, probs.shape[-1]), dim=-1)
                for r, i in enumerate(batch):
                    by_row[i] = {}
                    for off in range(keep):
                        dist: dict[str, float] = {}
                        pos = keep - 1 - off
                        for p, tok in zip(top.values[r, pos].tolist(), top.indices[r, pos].tolist()):
                            text = self.tokenizer.decode([tok])
                            dist[text] = dist.get(text, 0.0) + p
                        by_row[i][off] = dist
        self.counter.calls += 1
        return [{p: by_row[i][off] for i, p, off in mine} for mine in reads]

    def generate(self, prompts: Sequence[Messages], settings: GenerationSettings | None = None) -> list[Generation]:
        import torch

        settings = settings or GenerationSettings()
        ids = [render_ids(self.tokenizer, m) for m in prompts]
        out: list[Generation | None] = [None] * len(ids)
        sample = settings.temperature > 0
        kwargs = dict(max_new_tokens=settings.max_new_tokens, do_sample=sample,
                      return_dict_in_generate=True, output_scores=settings.logprobs)
        if sample:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p)
            torch.manual_seed(settings.seed)
        else:  # silence "generation flags are not valid" from model defaults
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if settings.stop:
            kwargs.update(stop_strings=list(settings.stop), tokenizer=self.tokenizer)
        eos = self.tokenizer.eos_token_id
        with torch.no_grad():
            for batch in self._batches(ids):
                input_ids, mask, pad_id = self._pad([ids[i] for i in batch])
                res = self.model.generate(input_ids=input_ids, attention_mask=mask, pad_token_id=pad_id, **kwargs)
                new = res.sequences[:, input_ids.shape[1]:]
                # chosen-token logprobs, one step at a time (stacking all steps costs vocab x steps memory)
                chosen = None
                if settings.logprobs and res.scores:
                    chosen = torch.stack([torch.log_softmax(s.float(), dim=-1).gather(1, new[:, k:k + 1])[:, 0]
                                          for k, s in enumerate(res.scores)], dim=1)
                for row, i in enumerate(batch):
                    toks = new[row].tolist()
                    n = len(toks)
                    for k, t in enumerate(toks):  # cut at the first EOS (then only padding follows)
                        if t in (eos, pad_id):
                            n = k
                            break
                    toks = toks[:n]
                    logprobs = None
                    if chosen is not None:
                        logprobs = [(self.tokenizer.decode([t]), float(chosen[row, k])) for k, t in enumerate(toks)]
                    text = self.tokenizer.decode(toks, skip_special_tokens=True)
                    out[i] = Generation(text=text, prompt_tokens=len(ids[i]), completion_tokens=len(toks),
                                        token_logprobs=logprobs)
                    self.counter.add(len(ids[i]), len(toks))
        self.counter.calls += 1
        return out  # type: ignore[return-value]

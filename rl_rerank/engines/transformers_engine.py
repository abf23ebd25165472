"""In-process transformers engine: the fallback that runs anywhere torch runs (and the reference for vLLM).

Label scoring reads next-token distributions at the end of each prompt. Prompts that share a long token
prefix (one query's pointwise prompts: system, instruction and query come first, the document last) compute
that prefix once and run only their suffixes against its KV cache, in batches sorted by length across queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rl_rerank.engines.base import Engine, Generation, GenerationSettings, Messages
from rl_rerank.engines.chat import render_ids
from rl_rerank.errors import UserError


def resolve_device(device: str | None) -> str:
    """None / "auto": cuda when torch sees a GPU, else cpu. Asking for cuda without one is a user error."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: torch sees no GPU here (use --device cpu, or a CUDA build of torch)")
    return device


def default_dtype(device: str) -> str:
    """bf16 on a GPU (half the memory and the tensor cores' rate), fp32 on CPU (bf16 matmuls are slower
    there on most CPUs, and fp32 keeps scores identical to the reference)."""
    return "bfloat16" if str(device).startswith("cuda") else "float32"


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def plan_prefix_groups(rows: Sequence[list[int]], keep: int, min_prefix: int) -> tuple[list[tuple[int, list[int]]],
                                                                                         list[int]]:
    """Split rows into groups that share a token prefix (computed once) and singles (computed in full).

    Rows are sorted so that shared prefixes are adjacent; a dynamic program over that order picks the
    segmentation with the fewest computed tokens (a group of n rows with prefix p costs p + sum(len - p)).
    A group's prefix leaves at least `keep` tokens of every row (the positions whose logits are read) and is
    at least `min_prefix` long. Returns ([(prefix length, row indices)], single row indices).
    """
    order = sorted(range(len(rows)), key=lambda i: rows[i])
    n = len(order)
    lcp = [0] + [common_prefix_len(rows[order[j - 1]], rows[order[j]]) for j in range(1, n)]
    best = [0] * (n + 1)
    start = [0] * (n + 1)  # best segment ending at j starts at start[j]
    plen = [0] * (n + 1)
    for j in range(1, n + 1):
        last = len(rows[order[j - 1]])
        best[j], start[j], plen[j] = best[j - 1] + last, j - 1, 0
        p, total = last - keep, last
        for i in range(j - 2, -1, -1):  # segment order[i..j-1]
            p = min(p, lcp[i + 1], len(rows[order[i]]) - keep)
            if p < min_prefix:
                break  # p only shrinks as the segment grows
            total += len(rows[order[i]])
            cost = best[i] + p + total - (j - i) * p
            if cost < best[j]:
                best[j], start[j], plen[j] = cost, i, p
    groups, singles = [], []
    j = n
    while j > 0:
        i = start[j]
        members = [order[k] for k in range(i, j)]
        if plen[j] > 0:
            groups.append((plen[j], members))
        else:
            singles.extend(members)
        j = i
    return groups[::-1], singles[::-1]


def length_batches(items: list, lengths: list[int], max_rows: int, max_padding: float = 0.1) -> list[list]:
    """Consecutive batches of length-sorted items, closed at max_rows or before padding would exceed
    `max_padding` of the batch's tokens (a few more, smaller forwards beat computing pad tokens)."""
    out: list[list] = []
    cur: list = []
    total = 0
    for item, n in zip(items, lengths, strict=True):
        if cur and (len(cur) >= max_rows or n * (len(cur) + 1) - total - n > max_padding * n * (len(cur) + 1)):
            out.append(cur)
            cur, total = [], 0
        cur.append(item)
        total += n
    if cur:
        out.append(cur)
    return out


class TransformersEngine(Engine):
    """Batched (sorted by length) inference under torch.no_grad; LoRA adapters through peft.

    device None picks cuda when available, else cpu; dtype None picks bf16 on cuda, fp32 on cpu.
    prefix_reuse=False computes every prompt in full (the reference path the reuse is tested against).
    """

    def __init__(self, model: str | None = None, adapter: str | None = None, dtype: str | None = None,
                 device: str | None = None, batch_size: int = 8, top_k: int = 64, show_progress: bool = False,
                 prefix_reuse: bool = True, min_prefix_tokens: int = 32):
        super().__init__()
        from rl_rerank.models import ModelSpec, load_model

        self.device = resolve_device(device)
        self.dtype = dtype or default_dtype(self.device)
        self.model, self.tokenizer = load_model(ModelSpec(model=model, adapter=adapter, dtype=self.dtype,
                                                          device=self.device), merge_adapter=True)
        self.batch_size = batch_size
        self.top_k = top_k
        self.show_progress = show_progress
        self.min_prefix_tokens = min_prefix_tokens
        config = getattr(self.model, "config", None)
        #: why prefix reuse is off (None: on); decided up front or by the first prefix's cache type
        self.reuse_off: str | None = None if prefix_reuse else "disabled"
        if self.reuse_off is None and getattr(config, "is_encoder_decoder", False):
            self.reuse_off = "encoder-decoder model"
        self._decoded: dict[int, str] = {}

    # -- helpers -------------------------------------------------------------------------------------
    def _batches(self, ids: list[list[int]], among: Sequence[int] | None = None):
        """Index batches of similar length (less padding), original order restored by the caller."""
        order = sorted(range(len(ids)) if among is None else among, key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            yield order[start:start + self.batch_size]

    def _pad_id(self) -> int:
        tok = self.tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def _pad(self, rows: list[list[int]]):
        import torch

        pad_id = self._pad_id()
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):  # left padding: the last position is every row's next-token slot
            input_ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
        return input_ids.to(self.device), mask.to(self.device), pad_id

    def _decode(self, tok: int) -> str:
        text = self._decoded.get(tok)
        if text is None:
            text = self._decoded[tok] = self.tokenizer.decode([tok])
        return text

    def _store(self, out: list, batch: Sequence[int], logits) -> None:
        """Top-k (probs, token ids) per kept position, as lists, for each row of the batch."""
        import torch

        probs = torch.softmax(logits.float(), dim=-1)
        top = torch.topk(probs, k=min(self.top_k, probs.shape[-1]), dim=-1)
        values, indices = top.values.cpu().tolist(), top.indices.cpu().tolist()
        for r, i in enumerate(batch):
            out[i] = (values[r], indices[r])

    def _dist(self, values: list[float], indices: list[int]) -> dict[str, float]:
        dist: dict[str, float] = {}
        for p, tok in zip(values, indices, strict=True):
            text = self._decode(tok)
            dist[text] = dist.get(text, 0.0) + p
        return dist

    def _run_groups(self, rows: list[list[int]], groups: list[tuple[int, list[int]]], keep: int, out: list) -> bool:
        """All groups' prefixes in one left-padded forward, then every member's suffix, sorted by length
        across groups (little padding), in batches against its own prefix's cache rows. Positions are passed
        explicitly (the unpadded ones), since padding sits before each prefix and between prefix and suffix.
        False (nothing computed) when the model's cache is not a plain per-layer key/value cache."""
        import torch

        from rl_rerank.compat.transformers import cache_from_kv, plain_kv

        pad_id = self._pad_id()
        pmax = max(p for p, _ in groups)
        ids = torch.full((len(groups), pmax), pad_id, dtype=torch.long)
        mask = torch.zeros((len(groups), pmax), dtype=torch.long)
        pos = torch.zeros((len(groups), pmax), dtype=torch.long)
        for g, (p, members) in enumerate(groups):
            ids[g, pmax - p:] = torch.tensor(rows[members[0]][:p], dtype=torch.long)
            mask[g, pmax - p:] = 1
            pos[g, pmax - p:] = torch.arange(p)
        cache = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                           position_ids=pos.to(self.device), use_cache=True, logits_to_keep=1).past_key_values
        kv, why_not = plain_kv(cache)
        if kv is None:
            self.reuse_off = why_not
            return False
        items = sorted(((i, g) for g, (_, members) in enumerate(groups) for i in members),
                       key=lambda item: len(rows[item[0]]) - groups[item[1]][0])
        for batch in length_batches(items, [len(rows[i]) - groups[g][0] for i, g in items], self.batch_size):
            suffixes = [rows[i][groups[g][0]:] for i, g in batch]
            b, width = len(batch), max(len(x) for x in suffixes)
            rows_of = torch.tensor([g for _, g in batch], dtype=torch.long)
            sids = torch.full((b, width), pad_id, dtype=torch.long)
            smask = torch.zeros((b, pmax + width), dtype=torch.long)
            smask[:, :pmax] = mask[rows_of]
            spos = torch.zeros((b, width), dtype=torch.long)
            for r, ((_, g), suf) in enumerate(zip(batch, suffixes, strict=True)):
                p = groups[g][0]
                sids[r, width - len(suf):] = torch.tensor(suf, dtype=torch.long)
                smask[r, pmax + width - len(suf):] = 1
                spos[r, width - len(suf):] = torch.arange(p, p + len(suf))
            dev_rows = rows_of.to(self.device)
            batch_cache = cache_from_kv([(k.index_select(0, dev_rows), v.index_select(0, dev_rows)) for k, v in kv])
            logits = self.model(input_ids=sids.to(self.device), attention_mask=smask.to(self.device),
                                position_ids=spos.to(self.device), past_key_values=batch_cache, use_cache=True,
                                logits_to_keep=keep).logits
            self._store(out, [i for i, _ in batch], logits)
        self.counter.reused_tokens += sum(p * (len(members) - 1) for p, members in groups)
        return True

    def _last_positions(self, rows: list[list[int]], keep: int) -> list[tuple[list, list]]:
        """For every row, the top-k (probs, ids) at its last `keep` positions (oldest first), reusing shared
        prefixes where that saves work; rows that shared a prefix but ran in full are counted as fallbacks."""
        import torch

        out: list = [None] * len(rows)
        if self.reuse_off is None and len(rows) > 1:
            groups, singles = plan_prefix_groups(rows, keep, self.min_prefix_tokens)
        else:
            groups, singles = [], list(range(len(rows)))
            if len(rows) > 1 and self.reuse_off != "disabled":
                self.counter.reuse_fallbacks += len(rows)
        with torch.no_grad():
            for start in range(0, len(groups), 64):  # bounded prefix batches for very large calls
                chunk = groups[start:start + 64]
                if self.reuse_off is not None or not self._run_groups(rows, chunk, keep, out):
                    for _, members in chunk:
                        singles.extend(members)
                        self.counter.reuse_fallbacks += len(members)
            for batch in self._batches(rows, singles):
                input_ids, mask, _ = self._pad([rows[i] for i in batch])
                # logits_to_keep: only the last positions go through the LM head (the vocab-sized matmul)
                logits = self.model(input_ids=input_ids, attention_mask=mask, logits_to_keep=keep).logits
                self._store(out, batch, logits)
        return out

    # -- Engine --------------------------------------------------------------------------------------
    def next_token_dists(self, prompts: Sequence[Messages], assistant_texts: Sequence[str]) -> list[dict[str, float]]:
        ids = [render_ids(self.tokenizer, m, a) for m, a in zip(prompts, assistant_texts, strict=True)]
        tops = self._last_positions(ids, 1)
        for row in ids:
            self.counter.add(len(row), 0)
        self.counter.calls += 1
        return [self._dist(values[-1], indices[-1]) for values, indices in tops]

    def dists_at_points(self, prompts: Sequence[Messages], prefixes: Sequence[str],
                        points: Sequence[str]) -> list[dict[str, dict[str, float]]]:
        """One forward per prompt for all points when the points' token ids extend each other ("" and "1":
        run prompt + "1" and read the last two positions); separate rows otherwise."""
        rows: list[list[int]] = []
        reads: list[list[tuple[int, str, int]]] = []  # per prompt: (row index, point, offset from row end)
        for messages, prefix in zip(prompts, prefixes, strict=True):
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
        tops = self._last_positions(rows, keep) if rows else []
        self.counter.calls += 1
        return [{p: self._dist(tops[i][0][keep - 1 - off], tops[i][1][keep - 1 - off]) for i, p, off in mine}
                for mine in reads]

    def generate(self, prompts: Sequence[Messages], settings: GenerationSettings | None = None) -> list[Generation]:
        import torch

        settings = settings or GenerationSettings()
        ids = [render_ids(self.tokenizer, m) for m in prompts]
        out: list[Generation | None] = [None] * len(ids)
        sample = settings.temperature > 0
        kwargs: dict[str, Any] = dict(max_new_tokens=settings.max_new_tokens, do_sample=sample,
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

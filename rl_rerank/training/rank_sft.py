"""Stage 1 with a ranking signal: TRL's SFT token loss plus a listwise loss over each query group.

Why: cross-entropy on one answer token per (query, document) pair teaches a small model the label prior (what
scores are common), not which of two documents is more relevant. Here every batch is one *group* of a query
(one positive + negatives, built by `data.build.group_size`), and beside the token loss the trainer ranks the
group on the model's differentiable expected score:

    e_i  = sum_d v_d p_i(d) / sum_d p_i(d)        p_i = softmax of the logits predicting the first score token,
                                                  d over the digit tokens "0".."9"; v_d = d, except v_"1" =
                                                  max_score when no target is 1 (then "1" only starts "10")
    L_rank = - sum_i t_i log softmax(e / tau)_i    t_i = (2^g_i - 1) / sum_j (2^g_j - 1), g = judged grades (ListNet)
    L = token_weight * L_token + weight * L_rank

The score read here is the first score token's distribution, the same quantity the rerank engines turn into
the expected score over whole labels ("10" = "1" then "0"); with targets 0/3/7/10 (TREC-DL grades) or 0/10
(binary) no target starts with "1" except 10, so the two agree once P("0" | "1") is near 1, which the token
loss teaches. The token loss keeps the answer format (`<answer>s</answer>`), which stage 2 samples from.

Batches are whole groups (per_device_train_batch_size = group size; gradient accumulation gathers several
groups per optimizer step), left-padded so every sequence ends at the last position and only the last few
positions need logits (`logits_to_keep`): the vocabulary projection of the prompt is never computed.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rl_rerank.errors import ConfigError


@dataclass
class RankingSection:
    """The `ranking:` section of an SFT recipe (null = plain SFT)."""

    weight: float = field(default=1.0, metadata={"help": "weight of the listwise loss"})
    token_weight: float = field(default=1.0, metadata={"help": "weight of TRL's token loss on the completion"})
    temperature: float = field(default=1.0, metadata={"help": "tau in softmax(e / tau) over a group's scores"})
    max_score: int = field(default=10, metadata={"help": "top of the score scale (value of the token '1' when "
                                                          "no target is 1)"})

    def __post_init__(self):
        for name in ("weight", "token_weight", "temperature"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"ranking.{name} must be a number >= 0, got {value!r}")
        if self.temperature == 0:
            raise ConfigError("ranking.temperature must be > 0")


def digit_values(targets: Sequence[int], max_score: int) -> list[float]:
    """Value of each first score token "0".."9": its digit, except "1" = max_score when no target is 1."""
    values = [float(d) for d in range(10)]
    if max_score >= 10 and 1 not in set(int(t) for t in targets):
        values[1] = float(max_score)
    return values


def listnet_targets(grades: Sequence[float]):
    """(2^g - 1) normalised over a group; None when the group has no gain (nothing to rank)."""
    import torch

    g = torch.as_tensor([max(0.0, float(x)) for x in grades], dtype=torch.float32)
    gains = torch.pow(2.0, g) - 1.0
    total = gains.sum()
    if total <= 0:
        return None
    return gains / total


def group_order(groups: Sequence[str], seed: int, shuffle: bool = True) -> list[int]:
    """Row indices with each group contiguous, groups in a seeded random order (rows of a group keep theirs)."""
    by_group: OrderedDict[str, list[int]] = OrderedDict()
    for i, g in enumerate(groups):
        by_group.setdefault(str(g), []).append(i)
    blocks = list(by_group.values())
    if shuffle:
        random.Random(seed).shuffle(blocks)
    return [i for block in blocks for i in block]


class GroupSampler:
    """torch Sampler drop-in: every group's rows contiguous, a new seeded group order each epoch."""

    def __init__(self, groups: Sequence[str], seed: int, shuffle: bool = True):
        self.groups = [str(g) for g in groups]
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        yield from group_order(self.groups, self.seed + self.epoch, self.shuffle)

    def __len__(self) -> int:
        return len(self.groups)


def check_groups(groups: Sequence[str], batch_size: int, where: str) -> int:
    """Every group must have exactly per_device_train_batch_size rows, so one batch is one group."""
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[str(g)] = sizes.get(str(g), 0) + 1
    bad = {g: n for g, n in sizes.items() if n != batch_size}
    if bad:
        example = next(iter(bad.items()))
        raise ConfigError(f"{where}: ranking SFT needs groups of exactly per_device_train_batch_size={batch_size} "
                          f"rows (group {example[0]!r} has {example[1]}); set data.build.group_size to "
                          f"per_device_train_batch_size")
    return len(sizes)


class LeftPadCollator:
    """Pads TRL-tokenized rows on the left (sequences end together) and carries grades and score positions."""

    def __init__(self, pad_token_id: int, digit_ids: Sequence[int]):
        self.pad_token_id = pad_token_id
        self.digit_ids = set(int(d) for d in digit_ids)

    def first_score_position(self, input_ids: Sequence[int], labels: Sequence[int]) -> int:
        """Index of the first digit token inside the completion (labels != -100); -1 when there is none."""
        for i, (tok, lab) in enumerate(zip(input_ids, labels, strict=True)):
            if lab != -100 and tok in self.digit_ids:
                return i
        return -1

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(e["input_ids"]) for e in examples)
        ids, mask, labels, pos, score_at, grades, groups = [], [], [], [], [], [], []
        for e in examples:
            n = len(e["input_ids"])
            pad = longest - n
            lab = e.get("labels", e["input_ids"])
            ids.append([self.pad_token_id] * pad + list(e["input_ids"]))
            mask.append([0] * pad + [1] * n)
            labels.append([-100] * pad + list(lab))
            pos.append([0] * pad + list(range(n)))
            at = self.first_score_position(e["input_ids"], lab)
            score_at.append(at + pad if at >= 0 else -1)
            grades.append(float(e.get("label", 0) or 0))
            groups.append(str(e.get("group", "")))
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask),
                "labels": torch.tensor(labels), "position_ids": torch.tensor(pos),
                "score_positions": torch.tensor(score_at), "grades": torch.tensor(grades),
                "group_keys": groups}


MIN_SHARED_PREFIX = 16  # below this many shared tokens the one-pass forward is as cheap


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix all rows share."""
    first = rows[0]
    n = min(len(r) for r in rows)
    for i in range(n):
        tok = first[i]
        if any(r[i] != tok for r in rows[1:]):
            return i
    return n


def shared_prefix_forward(model, ids, mask, keep: int, min_shared: int = MIN_SHARED_PREFIX):
    """Model outputs with logits for the last `keep` columns of a padded batch (left and/or right padding).

    Rows that come from one query share system prompt, instruction and query, about half of every prompt:
    that prefix goes through the model once, its KV cache is repeated for the rows, and only each row's own
    suffix (document, answer) is computed on top. Positions come from the attention mask (pads take none), so
    the result equals a one-pass forward with mask-derived positions; gradients flow through the shared prefix
    once. Falls back to the one pass when rows share fewer than `min_shared` leading tokens.
    """
    import torch

    batch, width = ids.shape
    positions = (mask.long().cumsum(dim=1) - 1).clamp(min=0)
    starts = mask.long().argmax(dim=1).tolist()
    rows = [ids[i, starts[i]:].tolist() for i in range(batch)]
    real_run = []  # leading real (unmasked) tokens of each row: a prefix must not cover padding
    for i in range(batch):
        m = mask[i, starts[i]:].tolist()
        real_run.append(m.index(0) if 0 in m else len(m))
    prefix = 0
    if batch > 1:
        prefix = min([shared_prefix_length(rows)] + real_run + [width - starts[i] - keep for i in range(batch)])
    if prefix < min_shared:
        return model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep, use_cache=False)
    from rl_rerank.compat.transformers import new_cache

    cache = new_cache()
    model(input_ids=ids[:1, starts[0]:starts[0] + prefix], position_ids=positions[:1, starts[0]:starts[0] + prefix],
          past_key_values=cache, use_cache=True, logits_to_keep=1)
    cache.batch_repeat_interleave(batch)
    span = width - min(starts) - prefix
    suffix_ids = torch.full((batch, span), int(ids[0, -1]), dtype=ids.dtype, device=ids.device)
    suffix_mask = torch.zeros((batch, span), dtype=mask.dtype, device=mask.device)
    suffix_pos = torch.full((batch, span), prefix, dtype=positions.dtype, device=positions.device)
    for i in range(batch):
        lo = starts[i] + prefix
        n = width - lo
        suffix_ids[i, span - n:] = ids[i, lo:]
        suffix_mask[i, span - n:] = mask[i, lo:]
        suffix_pos[i, span - n:] = positions[i, lo:]
    full_mask = torch.cat([torch.ones((batch, prefix), dtype=mask.dtype, device=mask.device), suffix_mask], dim=1)
    return model(input_ids=suffix_ids, attention_mask=full_mask, position_ids=suffix_pos, past_key_values=cache,
                 use_cache=True, logits_to_keep=keep)


def ranking_trainer_class():
    """SFTTrainer that adds the listwise loss (import-time free of trl)."""
    import torch
    import torch.nn.functional as F
    from trl import SFTTrainer

    from rl_rerank.compat.trl import TrainSamplerHook, own_loss_scaling, step_metrics

    class RankingSFTTrainer(TrainSamplerHook, SFTTrainer):
        """Only the batches and the loss change; tokenization, masking, optimizer and saving are TRL's."""

        def __init__(self, *args, ranking: RankingSection, digit_ids: Sequence[int], digit_values: Sequence[float],
                     **kwargs):
            self.ranking = ranking
            self.digit_ids = list(digit_ids)
            self.digit_values = list(digit_values)
            super().__init__(*args, **kwargs)
            own_loss_scaling(self)  # our loss is a mean per batch

        def train_sampler(self, dataset):
            return GroupSampler(dataset["group"], seed=self.args.seed)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            mode = "train" if model.training else "eval"
            ids, labels = inputs["input_ids"], inputs["labels"]
            score_at = inputs["score_positions"]
            # completions end at the last position (left padding): logits only for the tail that holds them
            first_label = (labels != -100).float().argmax(dim=1)
            keep = int(ids.shape[1] - first_label.min().item() + 1)
            out = shared_prefix_forward(model, ids, inputs["attention_mask"], keep)
            logits = out.logits.float()  # B x keep x V, positions L-keep .. L-1
            offset = ids.shape[1] - keep
            # token loss: position t predicts token t + 1
            tail_labels = labels[:, offset + 1:]
            token_loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tail_labels.reshape(-1),
                                         ignore_index=-100)
            # expected first-score-token value per row
            rows = torch.arange(ids.shape[0], device=ids.device)
            valid = score_at >= 0
            at = (score_at - 1 - offset).clamp(min=0)
            digit_logits = logits[rows, at][:, self.digit_ids]
            probs = torch.softmax(digit_logits, dim=-1)
            values = torch.tensor(self.digit_values, device=probs.device)
            expected = probs @ values
            rank_loss = torch.zeros((), device=logits.device)
            n_groups = 0
            keys = inputs["group_keys"]
            for key in dict.fromkeys(keys):
                idx = [i for i, k in enumerate(keys) if k == key and bool(valid[i])]
                target = listnet_targets(inputs["grades"][idx].tolist()) if len(idx) > 1 else None
                if target is None:
                    continue
                logp = torch.log_softmax(expected[idx] / self.ranking.temperature, dim=0)
                rank_loss = rank_loss - (target.to(logp.device) * logp).sum()
                n_groups += 1
            if n_groups:
                rank_loss = rank_loss / n_groups
            loss = self.ranking.token_weight * token_loss + self.ranking.weight * rank_loss
            metrics = step_metrics(self, mode)
            metrics["token_loss"].append(float(token_loss.detach()))
            metrics["rank_loss"].append(float(rank_loss.detach()))
            grades = inputs["grades"]
            pos, neg = expected[valid & (grades >= 2)], expected[valid & (grades <= 0)]
            if len(pos) and len(neg):
                metrics["score_gap"].append(float(pos.mean().detach() - neg.mean().detach()))
            return (loss, out) if return_outputs else loss

    return RankingSFTTrainer

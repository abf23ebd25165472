"""TRL internals rl_rerank relies on, checked against the installed TRL when this module is imported.

Also holds the transformers.Trainer hooks our trainers override (the train sampler, the loss scaling flag):
they are reached only through TRL's SFTTrainer / GRPOTrainer, which import transformers.Trainer anyway, while
`compat.transformers` stays cheap for inference. Those names are reported as transformers' when missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import transformers
import trl
from trl.generation.vllm_client import VLLMClient
from trl.generation.vllm_generation import VLLMGeneration

from rl_rerank.compat import Checker

#: GRPOTrainer adds a frozen copy of a loaded adapter under this name as the KL reference (beta > 0), and
#: save_model writes it beside the trained adapter as a sub-folder of that name.
REF_ADAPTER = "ref"
#: Keyword arguments GRPOTrainer passes every reward function beside prompts/completions/completion_ids and the
#: dataset columns: trainer hooks, not per-completion data.
REWARD_HOOKS = ("trainer_state", "log_extra", "log_metric", "environments")
#: What TRL 1.16's `trl vllm-serve` answers on /server_info's logprobs mode when the server is not in dev mode
#: (launch/vllm_cpu_serve.py starts vLLM with this mode).
SERVER_LOGPROBS_MODE = "processed_logprobs"


def check() -> None:
    """Every TRL / transformers.Trainer name below exists in the installed versions (CompatError if not)."""
    need = Checker("trl", ("trl",))
    for name in ("SFTTrainer", "SFTConfig", "GRPOTrainer", "GRPOConfig", "ModelConfig", "get_peft_config",
                 "get_quantization_config"):
        need.attr(trl, name, f"trl.{name}")
    grpo = trl.GRPOTrainer
    need.params(need.attr(grpo, "_get_train_sampler", "GRPOTrainer._get_train_sampler"),
                "GRPOTrainer._get_train_sampler", ["dataset"])
    logps = need.attr(grpo, "_get_per_token_logps_and_entropies", "GRPOTrainer._get_per_token_logps_and_entropies")
    need.params(logps, "GRPOTrainer._get_per_token_logps_and_entropies",
                ["model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy",
                 "compute_aux_loss"])
    rewards = need.attr(grpo, "_calculate_rewards", "GRPOTrainer._calculate_rewards")
    need.source(rewards, "GRPOTrainer._calculate_rewards",
                [f'"{k}"' for k in REWARD_HOOKS] + ["completion_ids="])
    need.source(grpo.__init__, "GRPOTrainer.__init__",
                [f'add_adapter("{REF_ADAPTER}"', "self.vllm_generation", "self.num_generations",
                 "self.num_iterations", "self.shuffle_dataset", "self.temperature", "self._metrics"])
    need.attr(trl.GRPOConfig, "steps_per_generation", "GRPOConfig.steps_per_generation")
    need.source(trl.SFTTrainer.__init__, "SFTTrainer.__init__", ["self._metrics"])
    need.params(need.attr(VLLMClient, "init_communicator", "VLLMClient.init_communicator"),
                "VLLMClient.init_communicator", ["device"])
    need.attr(VLLMClient, "get_server_info", "VLLMClient.get_server_info")
    need.attr(VLLMGeneration, "sync_weights", "VLLMGeneration.sync_weights")
    need.raise_first()

    hooks = Checker("transformers", ("transformers",))
    trainer = transformers.Trainer
    hooks.params(hooks.attr(trainer, "_get_train_sampler", "Trainer._get_train_sampler"),
                 "Trainer._get_train_sampler", ["train_dataset"])
    hooks.source(hooks.attr(trainer, "get_train_dataloader", "Trainer.get_train_dataloader"),
                 "Trainer.get_train_dataloader", ["self._get_train_sampler"])
    hooks.source(trainer.__init__, "Trainer.__init__", ["self.model_accepts_loss_kwargs"])
    hooks.raise_first()


check()


class TrainSamplerHook:
    """Mixin (before the TRL trainer in the bases) for trainers that choose their own train sampler.

    transformers.Trainer (SFT) and GRPOTrainer build the train DataLoader with `sampler_fn(dataset)` from the
    private `_get_train_sampler`; subclasses define the public `train_sampler(dataset)` instead."""

    train_dataset: Any  # set by the Trainer this mixin precedes

    def train_sampler(self, dataset):  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def _get_train_sampler(self, dataset=None):
        return self.train_sampler(self.train_dataset if dataset is None else dataset)


class CompletionLogpsHook:
    """Mixin (before GRPOTrainer in the bases) replacing TRL's completion log-prob pass for text-only batches.

    Subclasses define `completion_logps(model, input_ids, attention_mask, logits_to_keep, batch_size,
    compute_entropy) -> (logps, entropies or None)`; images and MoE aux loss still go to TRL's own pass."""

    def completion_logps(self, model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy):
        raise NotImplementedError  # pragma: no cover

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                           **multimodal):
        if compute_aux_loss or any(v is not None for v in multimodal.values()):
            return super()._get_per_token_logps_and_entropies(  # type: ignore[misc]
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **multimodal)
        logps, entropies = self.completion_logps(model, input_ids, attention_mask, logits_to_keep,
                                                 batch_size or input_ids.size(0), compute_entropy)
        return logps, entropies, None  # third: the MoE aux loss, none here


def step_metrics(trainer, mode: str) -> dict[str, list]:
    """The per-step metric lists TRL's trainers average into their logs (train or eval)."""
    return trainer._metrics[mode]


def own_loss_scaling(trainer) -> None:
    """The loss is already a per-batch mean: let the Trainer divide by the accumulation steps itself instead of
    handing the model num_items_in_batch."""
    trainer.model_accepts_loss_kwargs = False


def split_reward_hooks(kwargs: dict) -> dict:
    """Pop TRL's trainer hooks out of a reward call's keyword arguments (what is left: dataset columns)."""
    return {k: kwargs.pop(k) for k in REWARD_HOOKS if k in kwargs}


@contextlib.contextmanager
def without_vllm_weight_sync() -> Iterator[None]:
    """Build a GRPOTrainer (server mode) that does not join vLLM's NCCL weight transfer, then call
    `skip_weight_sync(trainer)`. TRL's server-mode weight transfer is vLLM's NCCL engine and refuses non-CUDA
    devices; skipping it lets a CPU run take rollouts from `trl vllm-serve` (the server then samples from its
    initial weights: off-policy, TRL's importance-sampling correction applies).

    Such a server needs none of vLLM's dev-mode endpoints, so launch/vllm_cpu_serve.py leaves dev mode off;
    TRL then cannot read the server's logprobs mode from /server_info (dev only) for a warning, and we answer
    with the mode the shim starts vLLM with instead of failing."""
    original = VLLMClient.init_communicator, VLLMClient.get_server_info

    def server_info(self):
        try:
            return original[1](self)
        except RuntimeError:  # 404: dev mode off
            return {"model_config": {"logprobs_mode": SERVER_LOGPROBS_MODE}, "weight_transfer_config": None}

    VLLMClient.init_communicator = lambda self, device=0: None
    VLLMClient.get_server_info = server_info
    try:
        yield
    finally:
        VLLMClient.init_communicator, VLLMClient.get_server_info = original


def skip_weight_sync(trainer) -> None:
    """Never push trained weights to the vLLM server (the counterpart of without_vllm_weight_sync)."""
    trainer.vllm_generation.sync_weights = lambda: None


def model_config(dtype: str, quantization: str | None, lora: Any | None) -> trl.ModelConfig:
    """TRL's ModelConfig from our recipe keys: `lora` (r, alpha, dropout, target_modules; None = no PEFT),
    `quantization` (None, "4bit" = NF4 with double quantization, "8bit"), `dtype` (4-bit compute dtype)."""
    config = trl.ModelConfig(
        dtype=None if dtype == "auto" else dtype,  # TRL passes dtype as the 4-bit compute dtype: "auto" is no dtype
        use_peft=lora is not None,
        load_in_4bit=quantization == "4bit", load_in_8bit=quantization == "8bit",
        bnb_4bit_quant_type="nf4", use_bnb_nested_quant=True)
    if lora is not None:
        config.lora_r, config.lora_alpha, config.lora_dropout = lora.r, lora.alpha, lora.dropout
        # Set after __post_init__, which turns a one-element list into a bare string for its CLI; PEFT reads a
        # string as a regex over full module names, so ["q_proj"] would then match no module at all.
        config.lora_target_modules = lora.target_modules
    return config


def peft_config(lora: Any):
    """The LoraConfig TRL builds for these settings (task CAUSAL_LM, no bias, no DoRA/rsLoRA)."""
    return trl.get_peft_config(model_config("float32", None, lora))


def quantization_config(quantization: str | None, dtype: str):
    """The BitsAndBytesConfig TRL builds for "4bit" / "8bit" (None: no quantization)."""
    return trl.get_quantization_config(model_config(dtype, quantization, None))


"""Batch geometry that does not depend on the number of processes.

A recipe fixes the algorithm: how many prompts one generation batch holds (GRPO) or how many rows one optimizer
step sees (SFT), how many optimizer steps a generation batch feeds, how long training runs (queries or epochs).
The hardware fixes only the split: per-device micro-batch and gradient accumulation are derived here for the
given process count, so 1, 8 or 16 GPUs run the same algorithm.

TRL's GRPO semantics (trl 1.16, GRPOConfig.__post_init__ and GRPOTrainer._prepare_inputs): a generation batch of
`generation_batch_size` completions is produced every `steps_per_generation x num_iterations` micro-steps, each
micro-step consumes `per_device_train_batch_size` completions on every process, and the optimizer steps every
`gradient_accumulation_steps` micro-steps. So optimizer steps per pass over a generation batch =
steps_per_generation / gradient_accumulation_steps, and we set gradient_accumulation_steps from it.

`per_device_train_batch_size` in a recipe is an upper bound (a memory knob): the largest micro-batch not above it
that divides the per-process share of an optimizer step is used, and shown by `--dry-run`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rl_rerank.errors import ConfigError

GRPO_NUM_GENERATIONS = 8  # TRL's GRPOConfig default, also ours (grpo.GRPO_DEFAULTS)
TRL_PER_DEVICE_BATCH = 8  # TRL's default per_device_train_batch_size


@dataclass
class Geometry:
    """One stage's batch layout for `processes` processes (numbers over all processes unless named per device)."""

    stage: str
    processes: int
    per_device_batch: int  # micro-batch used (<= the recipe's per_device_train_batch_size)
    per_device_batch_asked: int
    gradient_accumulation: int
    rows_per_step: int  # SFT: examples per optimizer step; GRPO: completions per optimizer step
    depends_on_processes: bool = False  # legacy recipe without the keys below: the algorithm changes with P
    # GRPO only
    num_generations: int = 0
    queries_per_generation: int | None = None  # grouped recipes (erank): whole queries
    prompts_per_generation: int = 0
    completions_per_generation: int = 0
    optimizer_steps_per_generation: int = 1  # per pass over the generation batch
    num_iterations: int = 1
    trl_steps_per_generation: int = 0  # TRL's micro-steps per generation batch
    # length
    max_steps: int | None = None  # what TRL gets (None: TRL counts its epochs)
    expected_steps: int | None = None  # SFT by epochs: what TRL's epochs come to
    length_from: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def prompts_per_step(self) -> int:
        return self.rows_per_step // max(1, self.num_generations) if self.stage == "grpo" else self.rows_per_step

    def trl_overrides(self) -> dict:
        """What goes into SFTConfig / GRPOConfig to realise this geometry."""
        out: dict = {"per_device_train_batch_size": self.per_device_batch,
                     "gradient_accumulation_steps": self.gradient_accumulation}
        if self.stage == "grpo" and not self.depends_on_processes:
            out["generation_batch_size"] = self.completions_per_generation
        if self.max_steps is not None:
            out["max_steps"] = self.max_steps
        return out

    def as_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["prompts_per_step"] = self.prompts_per_step
        return d

    def table(self) -> str:
        """The numbers `--dry-run` prints, one per line."""
        rows: list[tuple[str, object]] = [("processes", self.processes)]
        if self.stage == "grpo":
            if self.queries_per_generation is not None:
                rows.append(("queries per generation batch", self.queries_per_generation))
            rows += [("prompts per generation batch", self.prompts_per_generation),
                     ("completions per generation batch",
                      f"{self.completions_per_generation} ({self.prompts_per_generation} x G={self.num_generations})"),
                     ("optimizer steps per generation batch", f"{self.optimizer_steps_per_generation} per pass x "
                      f"{self.num_iterations} pass(es) (num_iterations) = "
                      f"{self.optimizer_steps_per_generation * self.num_iterations}"),
                     ("prompts per optimizer step", self.prompts_per_step),
                     ("completions per optimizer step", self.rows_per_step)]
        else:
            rows.append(("examples per optimizer step", self.rows_per_step))
        asked = "" if self.per_device_batch == self.per_device_batch_asked else \
            f" (recipe allows {self.per_device_batch_asked}; largest that divides the step)"
        rows += [("per-device micro-batch", f"{self.per_device_batch}{asked}"),
                 ("gradient accumulation", self.gradient_accumulation)]
        if self.stage == "grpo":
            rows.append(("TRL steps_per_generation (micro-steps)", self.trl_steps_per_generation))
        steps = self.max_steps if self.max_steps is not None else self.expected_steps
        rows.append(("optimizer steps for the run", f"{steps if steps is not None else '?'} ({self.length_from})"))
        width = max(len(k) for k, _ in rows)
        lines = [f"  {k:<{width}}  {v}" for k, v in rows]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _largest_divisor_at_most(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def _split(total_per_step: int, processes: int, per_device_cap: int, what: str, where: str) -> tuple[int, int]:
    """(micro-batch, accumulation) so that micro-batch x processes x accumulation = total_per_step."""
    if total_per_step % processes:
        raise ConfigError(f"{where}: {total_per_step} {what} per optimizer step do not split over {processes} "
                          f"processes; choose a multiple of the process count")
    per_process = total_per_step // processes
    micro = _largest_divisor_at_most(per_process, max(1, per_device_cap))
    return micro, per_process // micro


def grpo_geometry(cfg, processes: int, units: int | None = None, where: str = "recipe") -> Geometry:
    """GRPO geometry for `processes`; `units` = query groups (grouped) or prompts (rows) available per epoch."""
    trl = cfg.trl
    g = int(trl.get("num_generations", GRPO_NUM_GENERATIONS))
    cap = int(trl.get("per_device_train_batch_size", TRL_PER_DEVICE_BATCH))
    iters = int(trl.get("num_iterations", 1))
    k = int(cfg.optimizer_steps_per_generation)
    if cfg.group_by_query:
        qpg = cfg.queries_per_generation
        prompts = qpg * cfg.docs_per_query
    elif cfg.prompts_per_generation is not None:
        qpg, prompts = None, int(cfg.prompts_per_generation)
    else:  # legacy: TRL's default generation batch = micro-batch x processes x accumulation
        ga = int(trl.get("gradient_accumulation_steps", 1))
        comp = cap * processes * ga
        geo = Geometry("grpo", processes, cap, cap, ga, comp, depends_on_processes=True, num_generations=g,
                       prompts_per_generation=comp // g, completions_per_generation=comp,
                       optimizer_steps_per_generation=1, num_iterations=iters, trl_steps_per_generation=ga)
        geo.notes.append("no prompts_per_generation: the generation batch grows with the process count; set "
                         "prompts_per_generation to fix it")
        _length_grpo(cfg, geo, units, prompts_unit=comp // g)
        return geo
    completions = prompts * g
    if completions % k:
        raise ConfigError(f"{where}: {completions} completions per generation batch do not split into "
                          f"optimizer_steps_per_generation={k} equal steps")
    per_step = completions // k
    micro, ga = _split(per_step, processes, cap, "completions", where)
    geo = Geometry("grpo", processes, micro, cap, ga, per_step, num_generations=g, queries_per_generation=qpg,
                   prompts_per_generation=prompts, completions_per_generation=completions,
                   optimizer_steps_per_generation=k, num_iterations=iters, trl_steps_per_generation=ga * k)
    _length_grpo(cfg, geo, units, prompts_unit=qpg if qpg is not None else prompts)
    return geo


def _length_grpo(cfg, geo: Geometry, units: int | None, prompts_unit: int) -> None:
    """max_steps from train_queries, or trl.max_steps as given, or epochs over `units` when known."""
    per_batch = geo.optimizer_steps_per_generation * geo.num_iterations
    unit = "queries" if geo.queries_per_generation is not None else "prompts"
    if "max_steps" in cfg.trl and cfg.trl["max_steps"] not in (None, -1):
        geo.max_steps = int(cfg.trl["max_steps"])
        geo.length_from = f"trl.max_steps as given = {geo.max_steps // max(1, per_batch)} generation batches"
        return
    if cfg.train_queries is not None:
        batches = math.ceil(int(cfg.train_queries) / prompts_unit)
        geo.max_steps = batches * per_batch
        geo.length_from = f"train_queries {cfg.train_queries} = {batches} generation batches of {prompts_unit} {unit}"
        return
    epochs = float(cfg.trl.get("num_train_epochs", 1))
    if units is None:
        geo.length_from = f"{epochs:g} epoch(s); steps known once the data is built"
        return
    batches = units // prompts_unit
    geo.max_steps = max(1, math.ceil(epochs * batches)) * per_batch
    geo.length_from = f"{epochs:g} epoch(s) x {batches} generation batches ({units} {unit} // {prompts_unit})"


def sft_geometry(cfg, processes: int, rows: int | None = None, where: str = "recipe") -> Geometry:
    """SFT geometry: `examples_per_step` rows per optimizer step on any process count."""
    trl = cfg.trl
    cap = int(trl.get("per_device_train_batch_size", TRL_PER_DEVICE_BATCH))
    if cfg.examples_per_step is None:
        ga = int(trl.get("gradient_accumulation_steps", 1))
        geo = Geometry("sft", processes, cap, cap, ga, cap * processes * ga, depends_on_processes=True)
        geo.notes.append("no examples_per_step: the optimizer batch grows with the process count; set "
                         "examples_per_step to fix it")
    else:
        micro, ga = _split(int(cfg.examples_per_step), processes, cap, "examples", where)
        geo = Geometry("sft", processes, micro, cap, ga, int(cfg.examples_per_step))
    if "max_steps" in trl and trl["max_steps"] not in (None, -1):
        geo.max_steps = int(trl["max_steps"])
        geo.length_from = "trl.max_steps as given"
    else:
        epochs = float(trl.get("num_train_epochs", 3))
        if rows is None:
            geo.length_from = f"{epochs:g} epoch(s) of ceil(rows / {geo.rows_per_step}) steps"
        else:
            per_epoch = math.ceil(rows / geo.rows_per_step)
            geo.expected_steps = max(1, math.ceil(epochs * per_epoch))
            geo.length_from = f"{epochs:g} epoch(s) x ceil({rows} rows / {geo.rows_per_step})"
    return geo


def stage_geometry(stage: str, cfg, processes: int, units: int | None = None, where: str = "recipe") -> Geometry:
    if processes < 1:
        raise ConfigError(f"{where}: the process count must be >= 1, got {processes}")
    if stage == "sft":
        return sft_geometry(cfg, processes, units, where)
    return grpo_geometry(cfg, processes, units, where)


def world_size() -> int:
    """Processes of this run: accelerate / torchrun set WORLD_SIZE; 1 otherwise."""
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))

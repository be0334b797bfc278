"""A training run from start to end: warm start, evaluation before RL, RL, evaluation after.

Everything a run writes lives in its output folder:
    train_config.json  the settings (a resumed run reads them back)
    warm_start/      the adapter after the supervised warm start (reused on resume)
    checkpoint-N/    complete checkpoints (written in a staging folder, then renamed)
    metrics.jsonl    training logs, held-out evaluations and the task ids of each, one JSON object per line
    curve.png        training return and held-out EM against steps
    final/           the trained adapter (or model), loadable by `agent-r1 eval --policy`
    summary.json     EM before and after RL (the mean over held-out envs, and each env's), time, steps, the task
                     ids trained and evaluated on

Training and held-out evaluation never share a task: see trainer/splits.py.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState
from transformers import TrainerCallback

import agent_r1.envs  # noqa: F401  (registers the ids)
from agent_r1.envs.mixture import qualified
from agent_r1.trainer.agent_trainer import AgentTrainer, episode_stats
from agent_r1.trainer.rollout.checkpoints import (CorruptCheckpointError, check_metrics_log, checkpoint_step, latest_checkpoint,
                                          read_json_object, safetensors_problem, save_atomically, task_ids_problem)
from agent_r1.trainer.rollout.models import LoraSpec, load_model, resolve_model
from agent_r1.trainer.rollout.phases import peak_resident_gb, release_freed_memory
from agent_r1.trainer.run_log import MetricsLog, plot_curve
from agent_r1.trainer.sft import oracle_trajectories, warm_start
from agent_r1.trainer.splits import EvalEnv, check_envs, eval_envs, rollout_env, train_env_ids
from agent_r1.trainer.train_config import TrainConfig
from agent_r1.tools.paths import RunFolder

logger = logging.getLogger(__name__)


class RunExistsError(FileExistsError):
    """The output folder already holds a run and --resume was not given."""


class BatchSplitError(ValueError):
    """A step's episodes do not divide evenly over the processes' micro-batches."""


WARM_START_TASKS = "task_ids.json"  # in warm_start/: the tasks of its oracle episodes, reused with it
WARM_START_COST = "cost.json"  # in warm_start/: its seconds and the process's peak memory when it was made


class _EvalAndLog(TrainerCallback):
    """Writes the trainer's logs and each step's training task ids to metrics.jsonl, and evaluates on the held-out
    episodes every `eval_every` steps."""

    def __init__(self, run: "_Run") -> None:
        self.run = run

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "train_runtime" not in logs and state.is_world_process_zero:
            self.run.log.write(state.global_step, "train", logs)

    def on_step_end(self, args, state, control, **kwargs):
        trainer = self.run.trainer
        trainer.check_replicas_agree()
        task_ids = trainer.take_task_ids()  # every process's: a collective, so every process asks
        # Before the step's checkpoint is written: a resume from it keeps this record, and drops later ones.
        if state.is_world_process_zero:
            self.run.log.write(state.global_step, "task_ids", {"train": task_ids})
        every = self.run.config.eval_every
        if every and state.global_step % every == 0 and state.global_step < state.max_steps and state.is_world_process_zero:
            # The main process evaluates; the others wait for it in the next step's first collective.
            with trainer.clock.phase("evaluation"):
                self.run.evaluate(state.global_step)


class _Run:
    def __init__(self, config: TrainConfig, out: Path, held_out: tuple[EvalEnv, ...]) -> None:
        self.config, self.out, self.held_out = config, out, held_out
        self.log = MetricsLog(RunFolder(out).metrics)
        self.trainer: AgentTrainer | None = None
        # With several envs in play, every task id names its env (a mixture's already do): two datasets may reuse one.
        self.mixture = len(train_env_ids(config)) > 1
        self.qualify = len(held_out) > 1 or self.mixture

    def evaluate(self, step: int) -> dict[str, Any]:
        """Each held-out env's episodes; the record's em, f1, ... are the mean over envs (the paper's average
        column), and `envs` holds each env's own."""
        start = time.perf_counter()
        per_env, task_ids = {}, []
        for env in self.held_out:
            trajectories = self.trainer.held_out_trajectories(env.held_out, env_id=env.env_id,
                                                              batch_size=self.config.eval_batch_size)
            per_env[env.env_id] = episode_stats(trajectories)
            # In episode order: for a dataset env, the evaluation file's question order.
            task_ids += [qualified(env.env_id, t.task_id) if self.qualify else t.task_id
                         for t in trajectories if t.task_id is not None]
            logger.info("step %d: held-out EM %.3f, F1 %.3f on %s (%d episodes)", step, per_env[env.env_id]["em"],
                        per_env[env.env_id]["f1"], env.env_id, len(trajectories))
        common = set.intersection(*(set(stats) for stats in per_env.values()))
        result = {key: sum(stats[key] for stats in per_env.values()) / len(per_env) for key in sorted(common)}
        result |= {"seconds": time.perf_counter() - start, "envs": per_env}
        release_freed_memory()
        self.log.write(step, "eval", result)
        self.log.write(step, "task_ids", {"eval": task_ids})
        return result

    def task_ids(self) -> dict[str, list[str]]:
        """Every task trained on (the warm start's oracle episodes and RL's), sorted, and every task evaluated on, in
        episode order; this session's and, for a resumed run, those before (metrics.jsonl and warm_start/ keep them)."""
        train = {*self.log.task_ids("train"), *_warm_start_task_ids(self.config, RunFolder(self.out).warm_start)}
        if self.qualify and not self.mixture:
            train = {qualified(self.config.env, task_id) for task_id in train}
        return {"train_task_ids": sorted(train), "eval_task_ids": self.log.task_ids("eval")}


def prepare_warm_start(config: TrainConfig, out: Path) -> Path:
    """Makes the warm start `train` would make for `config` (seeded the same way), in RunFolder(out).warm_start,
    without RL; or finds it there. For callers that share one warm start among runs and evaluate it first."""
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    _check_warm_start(config, RunFolder(out).warm_start)
    _load(config, out)
    return RunFolder(out).warm_start


def _load(config: TrainConfig, out: Path):
    lora = None if config.full_finetune else LoraSpec(r=config.lora_r, alpha=config.lora_alpha)
    model, tokenizer = load_model(config.model, lora=lora)
    if config.warm_start.episodes:
        stage = RunFolder(out).warm_start
        if stage.exists():
            logger.info("warm start: reusing %s", stage)
            _load_weights(model, stage)
        else:
            settings = config.warm_start
            env_id, env_kwargs = rollout_env(config)  # a mixture's oracle episodes come from every member
            started = time.perf_counter()
            data = oracle_trajectories(tokenizer, env_id, settings.episodes, seed=settings.seed, env_kwargs=env_kwargs)
            losses = warm_start(model, tokenizer, env_id, settings, data=data,
                                gradient_checkpointing=config.gradient_checkpointing, bf16=config.bf16)
            cost = {"seconds": time.perf_counter() - started, "peak_resident_gb": peak_resident_gb()}
            release_freed_memory()  # the warm start's activations: not held through RL
            logger.info("warm start: %d steps, loss %.3f -> %.3f, %.0f s, peak memory %.1f GB", len(losses), losses[0],
                        losses[-1], cost["seconds"], cost["peak_resident_gb"])
            task_ids = sorted({t.task_id for t in data if t.task_id is not None})
            save_atomically(stage, lambda tmp: (model.save_pretrained(tmp), tokenizer.save_pretrained(tmp),
                                                (tmp / "losses.json").write_text(json.dumps(losses)),
                                                (tmp / WARM_START_COST).write_text(json.dumps(cost)),
                                                (tmp / WARM_START_TASKS).write_text(json.dumps(task_ids))))
    return model, tokenizer


def _warm_start_task_ids(config: TrainConfig, stage: Path) -> list[str]:
    """The tasks of the warm start's oracle episodes (checked by _check_warm_start); none without a warm start."""
    path = stage / WARM_START_TASKS
    if not config.warm_start.episodes:
        return []
    if not path.exists():
        logger.warning("%s has no %s (made by an older version): the summary's train_task_ids lack the warm start's "
                       "tasks", stage, WARM_START_TASKS)
        return []
    return json.loads(path.read_text(encoding="utf-8"))


def _load_weights(model, directory: Path) -> None:
    if hasattr(model, "load_adapter"):
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(model, load_file(directory / "adapter_model.safetensors"))
    else:
        from transformers import AutoModelForCausalLM

        model.load_state_dict(AutoModelForCausalLM.from_pretrained(directory).state_dict())


def _grpo_args(config: TrainConfig, out: Path):
    from trl import GRPOConfig

    # A step's episodes are the whole step's, over every data-parallel process: each process runs micro-batches of
    # its share, so a run's batch (and its result) does not depend on how many processes share it.
    processes = PartialState().num_processes
    if config.episodes_per_step % (config.micro_batch_size * processes):
        raise BatchSplitError(f"groups_per_step x group_size ({config.episodes_per_step}) must be a multiple of "
                         f"micro_batch_size x processes ({config.micro_batch_size} x {processes})")
    accumulation = config.episodes_per_step // (config.micro_batch_size * processes)
    try:
        import tensorboard  # noqa: F401

        report_to = ["tensorboard"]
    except ImportError:
        report_to = "none"
    return GRPOConfig(
        output_dir=str(out),
        per_device_train_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=accumulation,
        steps_per_generation=accumulation,  # one rollout batch per optimiser step: on-policy, no log-prob recompute
        num_generations=config.group_size,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type="constant",
        beta=config.beta,
        epsilon=config.epsilon,
        loss_type=config.loss_type,
        temperature=config.rollout.temperature,  # the loss scores tokens at the temperature they were sampled at
        max_completion_length=config.rollout.max_total_tokens,
        bf16=config.bf16,
        gradient_checkpointing=config.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        use_cpu=not torch.cuda.is_available(),
        logging_steps=1,
        save_steps=config.save_every,
        save_total_limit=config.save_total_limit,
        report_to=report_to,
        # The step bar only on a terminal, as the warm start's and the evaluations': under nohup every redraw stays
        # in the log (the metrics and the step's log line say the same).
        disable_tqdm=not sys.stderr.isatty(),
        seed=config.seed,
        shuffle_dataset=True,
        # Read by AgentTrainer's vLLM sampler only: token-level truncated importance sampling (TIS).
        vllm_importance_sampling_correction=config.rollout.importance_sampling_cap > 0,
        vllm_importance_sampling_mode="token_truncate",
        vllm_importance_sampling_clip_max=config.rollout.importance_sampling_cap or None,
    )


def train(config: TrainConfig, *, resume: bool = False, initial_eval: dict[str, float] | None = None) -> dict[str, Any] | None:
    """Runs (or, with `resume`, continues) a training run; returns its summary (None in a data-parallel process other
    than the main one: the main one evaluates and writes the run folder).

    `initial_eval` is the held-out evaluation of the starting weights when the caller has it
    already (runs sharing one warm start), so it is not repeated."""
    out = Path(config.output_dir)
    folder = RunFolder(out)
    saved = folder.config
    checkpoint = None
    # Everything a resume reads is checked first: a damaged file is one clear error, not a traceback after the model loads.
    if resume:
        config = _resumed_config(config, saved)
        finished = _finished_summary(folder.summary, config.max_steps)
        if finished is not None:
            return finished
        check_metrics_log(folder.metrics)
        checkpoint = latest_checkpoint(out)
    elif out.exists() and (saved.exists() or latest_checkpoint(out)):
        raise RunExistsError(f"{out} already holds a run: pass --resume to continue it, or choose another --output-dir")
    _check_warm_start(config, folder.warm_start)
    held_out = check_envs(config)
    resolve_model(config.model)  # a missing model fails before the run folder is made
    # Under `accelerate launch`, every process has checked the folder before the main one writes to it.
    processes = PartialState(cpu=not torch.cuda.is_available())
    processes.wait_for_everyone()
    main = processes.is_main_process
    grpo_args = _grpo_args(config, out)  # before the model loads: a batch that does not split is one line
    if main:
        out.mkdir(parents=True, exist_ok=True)
        saved.write_text(config.to_json())
        shutil.rmtree(out / ".staging", ignore_errors=True)

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    run = _Run(config, out, held_out)
    started = time.perf_counter()
    with processes.main_process_first():  # the main process converts the model and makes the warm start; the others reuse them
        model, tokenizer = _load(config, out)
    rollout = config.rollout.engine()
    train_seeds = range(config.train_seed, config.train_seed + config.max_steps * config.groups_per_step)
    env_id, env_kwargs = rollout_env(config)
    run.trainer = AgentTrainer(
        model, tokenizer, env_id, list(train_seeds), grpo_args, algo=config.algo,
        env_kwargs=env_kwargs, eval_envs=eval_envs(config), rollout=rollout,
        callbacks=[_EvalAndLog(run)],
        ppo=config.ppo, gamma=config.gamma,
        generator=_sampler(config, model, processes.process_index),
    )
    first_step = checkpoint_step(checkpoint) if checkpoint is not None else 0
    if checkpoint is not None:
        logger.info("resuming from %s", checkpoint)
    if main:
        run.log.truncate_after(first_step if checkpoint is not None else -1)
        if initial_eval is not None and 0 not in dict(run.log.evals()):
            run.log.write(0, "eval", initial_eval)
        before = dict(run.log.evals()).get(0) or run.evaluate(0)
    rl_started = time.perf_counter()
    run.trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    rl_seconds = time.perf_counter() - rl_started
    if not main:
        run.trainer.close()
        return None
    after = run.evaluate(run.trainer.state.global_step)
    save_atomically(folder.final, lambda tmp: _save_final(run.trainer, tmp))
    summary = {
        "env": config.env, "algo": config.algo, "reward_preset": config.reward_preset, "model": config.model,
        "steps": run.trainer.state.global_step, "eval_episodes": sum(len(env.held_out) for env in held_out),
        "em_before": before["em"], "em_after": after["em"], "f1_before": before["f1"], "f1_after": after["f1"],
        "eval": {env.env_id: {"episodes": len(env.held_out), **_before_after(before, after, env.env_id)}
                 for env in held_out},
        "rl_seconds_this_session": rl_seconds, "seconds_this_session": time.perf_counter() - started,
        "final": str(folder.final), "metrics": str(run.log.path), **run.task_ids(),
        "step_seconds": _per_step(run.trainer.phase_seconds, run.trainer.state.global_step - first_step),
        "peak_resident_gb": peak_resident_gb(),
    }
    logger.info("a step's time, averaged over this session's: %s; peak memory %.1f GB", ", ".join(
        f"{name} {seconds:.1f} s" for name, seconds in summary["step_seconds"].items() if seconds), summary["peak_resident_gb"])
    curve = plot_curve(run.log, folder.curve, f"{config.algo} on {config.env} ({config.model})")
    summary["curve"] = str(curve) if curve else None
    folder.summary.write_text(json.dumps(summary, indent=1))
    run.trainer.close()
    return summary


def _sampler(config: TrainConfig, model, process_index: int):
    """The vllm backend's engine, colocated in this process (None: the trainer samples with the policy itself).

    vLLM loads the base checkpoint (a warm start's or resumed run's weights reach it before the first rollout); each
    data-parallel process seeds its own engine differently, as its groups differ."""
    if config.rollout.backend != "vllm":
        return None
    from agent_r1.trainer.rollout.vllm_generator import ContinuousVLLMGenerator

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return ContinuousVLLMGenerator(base.name_or_path, colocate=True, dtype=config.rollout.dtype,
                                   seed=config.seed + process_index, max_model_len=config.rollout.max_total_tokens,
                                   kv_cache_gb=config.rollout.kv_cache_gb or None)


def _per_step(seconds: dict[str, float], steps: int) -> dict[str, float]:
    """The breakdown of trainer/rollout/phases.py, per step of this session (the time of a resumed run's earlier sessions is
    in their metrics.jsonl records)."""
    return {name: total / max(1, steps) for name, total in seconds.items()}


def _before_after(before: dict[str, Any], after: dict[str, Any], env_id: str) -> dict[str, float]:
    """One held-out env's EM and F1 before and after RL (a record of an older version has no `envs`: the only env's
    are the record's own)."""
    old, new = before.get("envs", {env_id: before})[env_id], after["envs"][env_id]
    return {"em_before": old["em"], "em_after": new["em"], "f1_before": old["f1"], "f1_after": new["f1"]}


def _resumed_config(config: TrainConfig, saved: Path) -> TrainConfig:
    """The run's own settings, read back; only max_steps may change on resume."""
    if not saved.exists():
        raise FileNotFoundError(f"nothing to resume: {saved.parent} holds no train_config.json")
    remedy = "restore it, or start a new run in another --output-dir"
    try:
        previous = TrainConfig.from_dict(read_json_object(saved, remedy), source=str(saved))
    except ValueError as exc:
        raise CorruptCheckpointError(f"{saved} is corrupt ({exc}); {remedy}") from None
    if asdict(previous) | {"max_steps": config.max_steps} != asdict(config) | {"max_steps": config.max_steps}:
        logger.warning("--resume continues the run as it was configured in %s (only max_steps may change)", saved)
    return TrainConfig.from_dict(asdict(previous) | {"max_steps": config.max_steps})


def _finished_summary(path: Path, max_steps: int) -> dict[str, Any] | None:
    """The summary of a run that has already reached max_steps, else None."""
    if not path.exists():
        return None
    remedy = "delete it to finish the run again"
    summary = read_json_object(path, remedy)
    steps = summary.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool):
        raise CorruptCheckpointError(f"{path} is corrupt (\"steps\" should be a step count, got {steps!r}); {remedy}")
    if steps < max_steps:
        return None
    logger.info("%s finished already; its summary is in %s", path.parent, path)
    return summary


def _check_warm_start(config: TrainConfig, stage: Path) -> None:
    """The warm start a run reuses (see _load) has readable weights."""
    if not (config.warm_start.episodes and stage.exists()):
        return
    weights = sorted(stage.glob("*.safetensors"))
    problems = [f"{w.name}: {problem}" for w in weights if (problem := safetensors_problem(w))]
    if not weights:
        problems = ["no weights"]
    if (stage / WARM_START_TASKS).exists():
        problems += [f"{WARM_START_TASKS}: {p}" for p in [task_ids_problem(stage / WARM_START_TASKS)] if p]
    if problems:
        raise CorruptCheckpointError(f"the warm start {stage} is corrupt ({problems[0]}); delete it to redo the warm start")


def _save_final(trainer: AgentTrainer, directory: Path) -> None:
    trainer.model.save_pretrained(directory)
    trainer.processing_class.save_pretrained(directory)
    if trainer.value_head is not None:
        trainer.value_head.save(directory)

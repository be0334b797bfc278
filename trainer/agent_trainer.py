"""RL on multi-turn environments as a subclass of TRL's GRPOTrainer.

TRL keeps what it does well: batching, the clipped policy loss and its
variants (`loss_type`, `epsilon`, KL to the adapter-disabled model with
`beta`), gradient accumulation, logging, checkpoints and accelerate. What it
does not know is environments: its `rollout_func` is fed whole episodes from
the rollout engine (prompt ids, every response token, the sampled log-probs,
and `env_mask` = the loss mask, so observation tokens never enter the loss),
and for every algorithm but GRPO the subclass replaces TRL's one-number-per-
episode advantages with per-token ones (TRL's loss accepts shape (B, T)).
PPO adds a value head on the policy's trunk and a clipped value loss.
How a step is cut and scored is trainer/step_mechanics.py; how checkpoints
are written, trainer/trainer_checkpoints.py; the rollouts' sampler is the
policy itself, or a colocated vLLM (trainer/weight_sync.py).

The dataset is a list of env seeds, one prompt "seed=N" each: TRL repeats every
prompt `num_generations` times in a row, which is exactly a GRPO group.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any, Sequence

import torch

# rollout_func is marked experimental in TRL 1.16; this module is written against that version's contract.
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from agent_r1.envs.metrics import summarize
from agent_r1.trainer.advantages import ESTIMATORS, WHOLE_BATCH, gae, whiten
from agent_r1.trainer.fused_correction import fusable
from agent_r1.trainer.rollout.episodes import EpisodePlan, run_episodes
from agent_r1.trainer.rollout.hf_generator import TransformersGenerator
from agent_r1.trainer.rollout.engine import RolloutConfig, RolloutEngine
from agent_r1.trainer.step_mechanics import OptimizerClock, StepMechanics
from agent_r1.trainer.train_config import ALGORITHMS, DISCOUNTED, PPOSettings
from agent_r1.trainer.trainer_checkpoints import AtomicCheckpoints
from agent_r1.trainer.rollout.trajectory import Trajectory
from agent_r1.trainer.value_head import ValueHead, captured_hidden_states, values_before_tokens
from agent_r1.trainer.weight_sync import PolicySync

logger = logging.getLogger(__name__)

SEED_PREFIX = "seed="


def seed_prompts(seeds: Sequence[int]) -> list[str]:
    return [f"{SEED_PREFIX}{seed}" for seed in seeds]


def _seed_of(prompt: Any) -> int:
    if isinstance(prompt, str) and prompt.startswith(SEED_PREFIX):
        return int(prompt[len(SEED_PREFIX):])
    raise ValueError(f"AgentTrainer's dataset holds prompts of the form 'seed=N', got {prompt!r}")


def episode_return(prompts, completions, episode_return, **kwargs) -> list[float]:
    """TRL's reward function: the return the environment paid over the whole episode."""
    return [float(r) for r in episode_return]


def pad_right(rows: Sequence[torch.Tensor], width: int) -> torch.Tensor:
    out = torch.zeros(len(rows), width)
    for i, row in enumerate(rows):
        out[i, : min(width, len(row))] = row[:width]
    return out


def episode_stats(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    stats = summarize([t.metrics | {"return": t.episode_return} for t in trajectories])
    stats["model_tokens"] = sum(t.num_model_tokens for t in trajectories) / len(trajectories)
    stats["truncated"] = sum(t.truncation not in (None, "env") for t in trajectories) / len(trajectories)
    return stats


class AgentTrainer(StepMechanics, AtomicCheckpoints, GRPOTrainer):
    def __init__(
        self,
        model,
        tokenizer,
        env_id: str,
        train_seeds: Sequence[int],
        args: GRPOConfig,
        *,
        algo: str = "grpo",
        env_kwargs: dict[str, Any] | None = None,
        eval_envs: Sequence[tuple[str, dict[str, Any]]] | None = None,
        rollout: RolloutConfig = RolloutConfig(),
        ppo: PPOSettings = PPOSettings(),
        gamma: float = 1.0,
        callbacks=None,
        generator=None,
    ) -> None:
        from datasets import Dataset

        if algo not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGORITHMS)}")
        self.algo, self.ppo, self.gamma = algo, ppo, gamma
        self.value_head = None
        if algo == "ppo":
            self.value_head = ValueHead(model.config.hidden_size).to(next(model.parameters()).device)
            model.add_module("value_head", self.value_head)  # so that the optimiser and checkpoints include it
        self._init_step_mechanics(model)
        self._rollout_scored = None  # the last rollout's loss mask, as TRL pads the batch
        # The rollouts' sampler: the policy itself through transformers, or a colocated vLLM engine (a generator with
        # load_weights, trainer/rollout/vllm_generator.py) that is handed the policy's weights after every optimiser step.
        self.generator = generator if generator is not None else TransformersGenerator(model, tokenizer, clock=self.clock)
        self.engine = RolloutEngine(self.generator, tokenizer, env_id, env_kwargs=env_kwargs, config=rollout,
                                    clock=self.clock)
        # Held-out evaluation reads other data than training (a dataset env's dev split), maybe other envs: an
        # engine of its own per env, greedy. By default, the training env itself.
        self.eval_engines = {
            eval_id: RolloutEngine(self.generator, tokenizer, eval_id, env_kwargs=kwargs,
                                   config=replace(rollout, temperature=0.0), clock=self.clock)
            for eval_id, kwargs in (eval_envs if eval_envs is not None else [(env_id, env_kwargs or {})])
        }
        self.trajectories: list[Trajectory] = []
        self._trained_task_ids: set[str] = set()  # since the last take_task_ids()
        super().__init__(
            model=model,
            reward_funcs=[episode_return],
            args=args,
            train_dataset=Dataset.from_dict({"prompt": seed_prompts(train_seeds)}),
            processing_class=tokenizer,
            rollout_func=self._rollout,
            callbacks=[*(callbacks or []), OptimizerClock(self.clock)],
        )
        if hasattr(self.generator, "load_weights"):
            # TRL's colocated-vLLM path, fed by our sampler: TRL syncs the weights before a rollout whenever the step
            # changed, recomputes the sampled tokens' log-probs with the policy, and corrects the loss by their
            # truncated importance ratio (args.vllm_importance_sampling_*), logging its statistics.
            self.use_vllm, self.vllm_mode = True, "colocate"
            self.vllm_generation = PolicySync(self.generator, self.model, self.clock)
            self._last_loaded_step = -1

    # --- rollouts -----------------------------------------------------------------------------

    def _rollout(self, prompts: list, trainer) -> dict[str, list]:
        seeds = [_seed_of(p) for p in prompts]
        size = self.num_generations if self.model.training else self.num_generations_eval
        groups = [seeds[i : i + size] for i in range(0, len(seeds), size)]
        if any(len(g) != size or len(set(g)) != 1 for g in groups):
            raise RuntimeError(f"the batch does not hold whole groups of {size} equal seeds: {seeds}; make the "
                               "per-process batch a multiple of num_generations")
        with self.clock.phase("rollout"):
            self.trajectories = self._run([g[0] for g in groups], size, self.engine)
        if self.model.training:
            self._trained_task_ids.update(t.task_id for t in self.trajectories if t.task_id is not None)
        empty = [not t.response_ids for t in self.trajectories]
        # An episode that ended before its first token (a prompt over the token budget) still needs one
        # completion token for TRL; it is masked out.
        eos = self.processing_class.eos_token_id
        env_mask = [[0] if e else t.loss_mask for t, e in zip(self.trajectories, empty)]
        # The model's tokens of the batch as TRL will pad it (right, to the longest completion): what it rescores.
        self._rollout_scored = pad_right([torch.tensor(m, dtype=torch.float32) for m in env_mask],
                                         max(map(len, env_mask))).bool().to(self.accelerator.device)
        return {
            "prompt_ids": [t.prompt_ids for t in self.trajectories],
            "completion_ids": [[eos] if e else t.response_ids for t, e in zip(self.trajectories, empty)],
            "logprobs": [[0.0] if e else t.logprobs for t, e in zip(self.trajectories, empty)],
            "env_mask": env_mask,
            "episode_return": [t.episode_return for t in self.trajectories],
        }

    def close(self) -> None:
        """Stops the rollout engines' env thread pools and closes their envs."""
        self.engine.close()
        for engine in self.eval_engines.values():
            engine.close()

    def take_task_ids(self) -> list[str]:
        """The task ids of the training episodes run since the last call by every process, sorted (a run records
        them per step). With several processes it is a collective: every process calls it."""
        ids, self._trained_task_ids = sorted(self._trained_task_ids), set()
        if self.accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            ids = sorted(set(gather_object(ids)))
        return ids

    def check_replicas_agree(self) -> None:
        """Data-parallel processes must hold the same trainable weights after each step; raises if they do not (a
        collective: every process calls it)."""
        if self.accelerator.num_processes == 1:
            return
        weights = [p.detach().double().sum() for p in self.model.parameters() if p.requires_grad]
        checksum = torch.stack(weights).sum().reshape(1).to(self.accelerator.device)
        every = self.accelerator.gather(checksum).cpu()
        if not torch.equal(every, every[:1].expand_as(every)):
            raise RuntimeError(f"the data-parallel processes' weights differ after step {self.state.global_step}: "
                               f"checksums {every.tolist()}")

    def _run(self, seeds: list[int], group_size: int, engine: RolloutEngine,
             options: Sequence[dict | None] | None = None) -> list[Trajectory]:
        self._refresh_sampler()
        was_training = self.model.training
        self.model.eval()
        try:
            return engine.rollout(seeds, group_size=group_size, options=options)
        finally:
            self.model.train(was_training)
            if not self.use_vllm:
                self.generator.reset_cache()

    def _refresh_sampler(self) -> None:
        """The sampler serves the current weights: vLLM is handed them if the optimiser stepped since it last was
        (as TRL does before a training rollout; held-out evaluation needs it too), and transformers' KV cache,
        filled with older weights, is dropped."""
        if not self.use_vllm:
            self.generator.reset_cache()
        elif self.state.global_step != self._last_loaded_step:
            self.vllm_generation.sync_weights()
            self._last_loaded_step = self.state.global_step

    def held_out_trajectories(self, plan: EpisodePlan, env_id: str | None = None, batch_size: int = 16,
                              progress: bool = True) -> list[Trajectory]:
        """Greedy episodes of `plan` (held out from training, see trainer/rollout/episodes.py) on the held-out env
        `env_id` (default: the first)."""
        engine = self.eval_engines[env_id] if env_id is not None else next(iter(self.eval_engines.values()))
        return run_episodes(engine, plan, batch_size=batch_size, progress=progress,
                            desc=f"held-out evaluation on {engine.env_id}",
                            rollout=lambda seeds, options: self._run(seeds, 1, engine, options))

    # --- advantages ---------------------------------------------------------------------------

    def _generate_and_score_completions(self, inputs):
        # With a vLLM sampler TRL rescores the sampled tokens with the policy (the importance-sampling correction's
        # numerator): like the loss, it needs only the model's tokens (trainer/scoring.py). Where the step is the
        # batch's only one, the loss's own forward gives the ratio instead, and nothing is rescored
        # (trainer/fused_correction.py).
        fused = self.model.training and fusable(self)
        self._scored = self._rollout_scored if self.use_vllm and self.model.training else None
        if fused:
            self.vllm_importance_sampling_correction = False  # TRL then neither rescores nor computes the ratio
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            self._scored = None
            if fused:
                self.vllm_importance_sampling_correction = True
        mode = "train" if self.model.training else "eval"
        for name, value in episode_stats(self.trajectories).items():
            self._metrics[mode][f"episode/{name}"].append(value)
        if self.algo == "grpo":
            return output  # TRL's group-normalised return is GRPO's advantage (and is gathered across processes)
        width = output["completion_ids"].size(1)
        if self.algo == "ppo":
            advantages, returns, values = self._ppo_targets(output)
            output["returns"], output["old_values"] = returns, values
        else:
            extra = {"sum_across": self._sum_across()} if self.algo in WHOLE_BATCH else {}
            extra |= {"gamma": self.gamma} if self.algo in DISCOUNTED else {}
            advantages = pad_right(ESTIMATORS[self.algo](self.trajectories, **extra), width)
        output["advantages"] = advantages.to(output["completion_ids"].device)
        return output

    def _sum_across(self):
        """Adds a tensor over the data-parallel processes (None with one process): batch statistics see every
        process's episodes."""
        if self.accelerator.num_processes == 1:
            return None
        return lambda sums: self.accelerator.reduce(sums.to(self.accelerator.device), reduction="sum").cpu()

    @torch.no_grad()
    def _ppo_targets(self, output) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = output["completion_ids"].size(1)
        input_ids = torch.cat([output["prompt_ids"], output["completion_ids"]], 1)
        attention = torch.cat([output["prompt_mask"], output["completion_mask"]], 1)
        with self.accelerator.autocast():
            values = values_before_tokens(self.model, self.value_head, input_ids, attention, width,
                                          self.args.per_device_train_batch_size)
        values = values.float().cpu()
        advantages, returns = [], []
        for row, t in enumerate(self.trajectories):
            n = len(t.response_ids)
            mask = torch.tensor(t.loss_mask, dtype=torch.float32)
            a, r = gae(torch.tensor(t.token_rewards), values[row, :n] * mask, mask, gamma=self.gamma, lam=self.ppo.gae_lambda)
            advantages.append(a)
            returns.append(r)
        masks = [torch.tensor(t.loss_mask, dtype=torch.float32) for t in self.trajectories]
        advantages = whiten(advantages, masks, self._sum_across())
        device = output["completion_ids"].device
        return pad_right(advantages, width).to(device), pad_right(returns, width).to(device), values.to(device)

    def _compute_loss(self, model, inputs):
        if self.value_head is None:
            return super()._compute_loss(model, inputs)
        with captured_hidden_states(model) as hidden:
            policy_loss = super()._compute_loss(model, inputs)
        width = inputs["completion_ids"].size(1)
        values = self.value_head(hidden[-1][:, -(width + 1) : -1])
        old, returns = inputs["old_values"], inputs["returns"]
        clipped = old + (values - old).clamp(-self.ppo.value_clip, self.ppo.value_clip)
        mask = inputs["completion_mask"] * inputs["tool_mask"]
        per_token = torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
        value_loss = 0.5 * (per_token * mask).sum() / mask.sum().clamp(min=1)
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["value_loss"].append(value_loss.item())
        accumulation = self.current_gradient_accumulation_steps if mode == "train" else 1
        return policy_loss + self.ppo.value_coef * value_loss / accumulation

"""The settings of a training run: one dataclass, readable from a JSON or TOML file and the command line."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from agent_r1.tools.paths import DEFAULT_MODEL

# Light on purpose: the command line builds its parser from this module without importing torch or TRL.
ALGORITHMS = ("grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline", "turn_level", "ppo")
# The algorithms that credit steps with later rewards, and so take a discount `gamma` (PPO through its GAE). GRPO and
# RLOO score whole episodes: there is nothing to discount.
DISCOUNTED = ("reinforce_pp", "reinforce_pp_baseline", "turn_level", "ppo")
ROLLOUT_DTYPES = ("auto", "float32", "bfloat16", "float16")
# A warm-start batch runs in slices of rows of at most this many tokens (at least one row). On the reference CPU the
# time per token is the same at 512, 1024 and 4096, and the process's peak 3.4, 5.1 and 10.8 GB
# (benchmarks/memory_peak.py, SynthHop episodes of about 460 tokens).
WARM_START_TOKENS_PER_FORWARD = 512


def _setting(default: Any, help: str, flag: str | None = None) -> Any:
    """A TrainConfig field with its help text, the one source for `agent-r1 train --help` and the docs; `flag` names
    its command-line option where that is not --FIELD-NAME (a dict field: repeatable KEY=VALUE flags)."""
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"help": help, "flag": flag})
    return field(default=default, metadata={"help": help, "flag": flag})


@dataclass
class TrainConfig:
    """The settings of a training run. Each field's help text is in its metadata (`help_text(name)`)."""

    # ---- what to train on -------------------------------------------------------------------------------------------
    env: str = _setting("AgentR1/SynthHop-v0", "a registered environment id (or MODULE:ID), or a mixture: "
                        "ID[=WEIGHT],ID[=WEIGHT],... (each GRPO group draws one env, with probability proportional to "
                        "its weight, 1 by default)")
    env_kwargs: dict[str, Any] = _setting({}, "keyword arguments of the envs for training and, unless eval_env_kwargs "
                                          "overrides them, evaluation; those under an env's id ({ID: {...}}) are that "
                                          "env's alone. A dataset env trains on split=train unless split or data_path "
                                          "is given", flag="--env-arg")
    eval_envs: str = _setting("", "the envs evaluated held out before, during and after training, comma-separated, "
                              "each reported on its own (default: the training envs), e.g. a dataset out of the "
                              "training domain")
    eval_env_kwargs: dict[str, Any] = _setting({}, "keyword arguments of the envs for held-out evaluation only, over "
                                               "env_kwargs; a dataset env evaluates on split=dev unless told otherwise; "
                                               "a run whose training and evaluation files share questions is refused",
                                               flag="--eval-env-arg")
    model: str = _setting(DEFAULT_MODEL, f"{DEFAULT_MODEL} (the embedded default), a local directory, or hf:HUB_ID "
                          "(a Hugging Face hub model)")
    algo: str = _setting("grpo", "grpo, ppo, rloo, reinforce_pp, reinforce_pp_baseline or turn_level")
    reward_preset: str = _setting("outcome", "outcome (final answer F1) or process (plus per-step rewards)")
    output_dir: str = _setting("runs/agent-r1", "the run folder: checkpoints, metrics, curve, summary")
    # ---- the RL loop ------------------------------------------------------------------------------------------------
    max_steps: int = _setting(30, "optimiser steps of RL")
    groups_per_step: int = _setting(4, "distinct tasks per optimiser step")
    group_size: int = _setting(4, "episodes per task (GRPO's G)")
    micro_batch_size: int = _setting(8, "episodes per forward and backward pass; the rest of a step is gradient "
                                     "accumulation")
    learning_rate: float = _setting(2e-4, "the RL optimiser's learning rate")
    lora_r: int = _setting(16, "the LoRA adapter's rank")
    lora_alpha: int = _setting(32, "the LoRA adapter's alpha (its scale is alpha / r)")
    full_finetune: bool = _setting(False, "train every weight instead of a LoRA adapter")
    gamma: float = _setting(1.0, "the discount of later rewards per model token (ppo, reinforce_pp, "
                            "reinforce_pp_baseline) or per turn (turn_level); grpo and rloo score whole episodes")
    beta: float = _setting(0.0, "the KL penalty's weight, against the reference (the model with the adapter disabled)")
    epsilon: float = _setting(0.2, "the clipping range of the policy ratio")
    loss_type: str = _setting("dapo", "TRL's loss type, how token losses are summed into one (dapo, grpo, "
                             "dr_grpo, bnpo, ...: TRL's GRPOConfig lists them)")
    value_coef: float = _setting(0.5, "ppo: the value loss's weight")
    value_clip: float = _setting(0.2, "ppo: the value estimate's clipping range")
    gae_lambda: float = _setting(0.95, "ppo: GAE's lambda")
    # ---- the supervised warm start ----------------------------------------------------------------------------------
    warm_start: int = _setting(0, "oracle episodes of supervised warm start before RL (0: none)")
    warm_start_epochs: int = _setting(1, "passes over the warm start's episodes")
    warm_start_learning_rate: float = _setting(5e-4, "the warm start's learning rate")
    warm_start_tokens_per_forward: int = _setting(WARM_START_TOKENS_PER_FORWARD, "the most tokens one forward pass "
                                                  "of the warm start holds: each batch runs in slices of rows; memory "
                                                  "grows with it, speed barely")
    gradient_checkpointing: bool = _setting(False, "recompute activations during the backward pass (warm start and "
                                            "RL): a pass holds about one layer's activations instead of all, for one "
                                            "more forward pass")
    # ---- held-out evaluation ----------------------------------------------------------------------------------------
    eval_every: int = _setting(10, "steps between held-out evaluations (0: only before and after RL)")
    eval_episodes: int = _setting(64, "episodes of each held-out evaluation, per held-out env (a dataset env: "
                                  "questions of its evaluation file in order; at most all of them)")
    eval_seed: int = _setting(0, "the first held-out episode: episode i resets with seed eval_seed + i and, in a "
                              "dataset env, poses question eval_seed + i (SynthHop: keep the range apart from "
                              "train_seed's)")
    train_seed: int = _setting(100_000, "seed of the first training task; task i uses train_seed + i")
    # ---- rollouts ---------------------------------------------------------------------------------------------------
    max_turns: int = _setting(8, "the rollout engine's cap on the model's turns in an episode; an env's own turn "
                              "budget ends episodes first where it is lower (SynthHop: hops + 2; raise it with "
                              "--env-arg max_turns=N)")
    max_tokens_per_turn: int = _setting(48, "the most tokens the model writes in one turn")
    max_total_tokens: int = _setting(1024, "the most tokens of an episode, prompt and observations included")
    temperature: float = _setting(1.0, "the rollouts' sampling temperature (held-out evaluation is greedy)")
    backend: str = _setting("transformers", "the rollouts' sampler: transformers (the policy itself) or vllm (a vLLM "
                            "engine in the training process, handed the policy's weights after every optimiser step)")
    rollout_dtype: str = _setting("auto", "the vllm backend's weights: auto (float32 on a CPU, the checkpoint's on a "
                                  "GPU), float32, bfloat16 or float16; the importance-sampling correction covers the "
                                  "difference from the trained policy")
    importance_sampling_cap: float = _setting(2.0, "vllm backend: each sampled token's loss is weighted by "
                                              "min(p_policy / p_vllm, CAP), truncated importance sampling; 0 turns "
                                              "the correction off")
    # ---- checkpoints and seeds --------------------------------------------------------------------------------------
    save_every: int = _setting(5, "steps between checkpoints")
    save_total_limit: int = _setting(2, "checkpoints kept (0: all)")
    seed: int = _setting(0, "the seed of the model's initialisation and sampling")

    def __post_init__(self) -> None:
        problems = []
        if self.algo not in ALGORITHMS:
            problems.append(f"algo must be one of {', '.join(ALGORITHMS)}, got {self.algo!r}")
        for name in ("max_steps", "groups_per_step", "group_size", "micro_batch_size", "eval_episodes",
                     "max_tokens_per_turn", "max_total_tokens", "save_every", "lora_r", "lora_alpha",
                     "warm_start_epochs", "max_turns", "warm_start_tokens_per_forward"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        # Seeds: numpy refuses negative ones, and a negative episode seed would reach the env.
        for name in ("warm_start", "eval_every", "eval_seed", "train_seed", "seed", "save_total_limit"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be 0 or more, got {getattr(self, name)}")
        problems += self._float_problems()
        for name in ("env", "eval_envs"):
            try:
                env_list(getattr(self, name), name, allow_empty=name == "eval_envs", weights=name == "env")
            except ValueError as exc:
                problems.append(str(exc))
        if self.group_size < 2 and self.algo in ("grpo", "rloo", "turn_level", "reinforce_pp_baseline"):
            problems.append(f"{self.algo} compares episodes within a group: group_size must be at least 2")
        if self.episodes_per_step % self.micro_batch_size:
            problems.append(f"groups_per_step x group_size ({self.episodes_per_step}) must be a multiple of "
                            f"micro_batch_size ({self.micro_batch_size})")
        if self.micro_batch_size % self.group_size and self.group_size % self.micro_batch_size:
            problems.append("micro_batch_size and group_size must divide one another")
        problems += self._sampler_problems()
        if problems:
            raise ValueError("bad training config: " + "; ".join(problems))

    def _sampler_problems(self) -> list[str]:
        from agent_r1.trainer.rollout.backends import BACKENDS

        problems = []
        if self.backend not in BACKENDS:
            problems.append(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.rollout_dtype not in ROLLOUT_DTYPES:
            problems.append(f"rollout_dtype must be one of {', '.join(ROLLOUT_DTYPES)}, got {self.rollout_dtype!r}")
        elif self.rollout_dtype != "auto" and self.backend != "vllm":
            problems.append("rollout_dtype sets the vllm backend's weights: the transformers backend samples from the "
                            "policy itself")
        cap = self.importance_sampling_cap
        if math.isfinite(cap) and cap != 0 and cap < 1:
            problems.append(f"importance_sampling_cap must be 0 (no correction) or at least 1, got {cap}")
        return problems

    def _float_problems(self) -> list[str]:
        # NaN and infinities first: NaN passes every `x < 0` test.
        infinite = [name for name in _FLOATS if not math.isfinite(getattr(self, name))]
        problems = [f"{name} must be a finite number, got {getattr(self, name)}" for name in infinite]
        for name in ("learning_rate", "warm_start_learning_rate", "temperature", "epsilon"):
            if name not in infinite and not getattr(self, name) > 0:
                problems.append(f"{name} must be above 0, got {getattr(self, name)}")
        for name in ("beta", "value_coef", "value_clip"):
            if name not in infinite and not getattr(self, name) >= 0:
                problems.append(f"{name} must be 0 or more, got {getattr(self, name)}")
        if "gae_lambda" not in infinite and not 0 <= self.gae_lambda <= 1:
            problems.append(f"gae_lambda must be between 0 and 1, got {self.gae_lambda}")
        if "gamma" not in infinite and not 0 < self.gamma <= 1:
            problems.append(f"gamma must be above 0 and at most 1, got {self.gamma}")
        elif self.gamma != 1 and self.algo not in DISCOUNTED:
            problems.append(f"{self.algo} scores whole episodes, so gamma has nothing to discount: leave it at 1, or "
                            f"use one of {', '.join(DISCOUNTED)}")
        return problems

    @property
    def episodes_per_step(self) -> int:
        return self.groups_per_step * self.group_size

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> "TrainConfig":
        """A JSON or TOML file of field names and values; unknown names are an error."""
        path = Path(path)
        try:
            text = path.read_text()
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except FileNotFoundError:
            raise FileNotFoundError(f"no config file at {path}") from None
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") from None
        return cls.from_dict({**data, **overrides}, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        defaults = field_defaults()
        for name, value in data.items():
            expected = type(defaults[name])
            ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                raise ValueError(f"{source}: {name} must be a {expected.__name__}, got {value!r}")
        return cls(**data)


def env_list(text: str, name: str = "env", *, allow_empty: bool = False, weights: bool = True) -> list[tuple[str, float]]:
    """The (id, weight) pairs of "ID[=WEIGHT],ID[=WEIGHT],..." (weight 1 where not given): the envs of a mixture.
    Ids are checked against the registry where they are used, not here (this module imports no env)."""
    pairs = []
    for item in [part.strip() for part in text.split(",")] if text.strip() else []:
        env_id, sep, weight = item.partition("=")
        if not env_id or (sep and not weights):
            raise ValueError(f"{name} lists env ids{' with optional =WEIGHT' if weights else ''}, got {item!r} in {text!r}")
        try:
            value = float(weight) if sep else 1.0
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name}: the weight of {env_id} must be a number above 0, got {weight!r}")
        pairs.append((env_id, value))
    if not pairs and not allow_empty:
        raise ValueError(f"{name} names no env, got {text!r}")
    if len({env_id for env_id, _ in pairs}) != len(pairs):
        raise ValueError(f"{name} names an env twice: {text!r}")
    return pairs


_FLOATS = ("learning_rate", "warm_start_learning_rate", "temperature", "beta", "epsilon", "value_coef", "value_clip",
           "gae_lambda", "gamma", "importance_sampling_cap")


def field_defaults() -> dict[str, Any]:
    return {f.name: (f.default if f.default is not MISSING else f.default_factory()) for f in fields(TrainConfig)}


def help_text(name: str) -> str:
    """A TrainConfig field's help text."""
    return next(f.metadata["help"] for f in fields(TrainConfig) if f.name == name)


def flag(name: str) -> str:
    """A TrainConfig field's command-line option."""
    return next(f.metadata["flag"] for f in fields(TrainConfig) if f.name == name) or "--" + name.replace("_", "-")


def settings_table() -> str:
    """Every setting as a Markdown table (docs/training.md holds it: `python -m agent_r1.trainer.train_config`)."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for f in fields(TrainConfig):
        default = f.default if f.default is not MISSING else f.default_factory()
        rows.append(f"| `{f.name}` (`{flag(f.name)}`) | `{default!r}` | {f.metadata['help']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())

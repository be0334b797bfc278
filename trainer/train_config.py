"""The settings of a training run: one dataclass, readable from a JSON or TOML file and the command line."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# Light on purpose: the command line builds its parser from this module without importing torch or TRL.
ALGORITHMS = ("grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline", "turn_level", "ppo")
ROLLOUT_DTYPES = ("auto", "float32", "bfloat16", "float16")
# A warm-start batch runs in slices of rows of at most this many tokens (at least one row). On the reference CPU the
# time per token is the same at 512, 1024 and 4096, and the process's peak 3.4, 5.1 and 10.8 GB
# (benchmarks/memory_peak.py, SynthHop episodes of about 460 tokens).
WARM_START_TOKENS_PER_FORWARD = 512


@dataclass
class TrainConfig:
    env: str = "AgentR1/SynthHop-v0"  # one id, or a mixture "ID[=WEIGHT],ID[=WEIGHT],..."
    # Every env's, except under an env's id: {"AgentR1/HotpotQA-v0": {...}} is that env's own. A dataset env's split
    # defaults to "train".
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_envs: str = ""  # the envs evaluated held out, comma-separated; "": each training env
    eval_env_kwargs: dict[str, Any] = field(default_factory=dict)  # held-out evaluation's, over env_kwargs; split "dev"
    model: str = "smollm2-135m-instruct"
    algo: str = "grpo"
    reward_preset: str = "outcome"
    output_dir: str = "runs/agent-r1"
    max_steps: int = 30
    groups_per_step: int = 4  # distinct tasks per optimiser step
    group_size: int = 4  # episodes per task (GRPO's G)
    micro_batch_size: int = 8  # episodes per forward/backward; the rest is gradient accumulation
    learning_rate: float = 2e-4
    lora_r: int = 16
    lora_alpha: int = 32
    full_finetune: bool = False
    warm_start: int = 0  # oracle episodes of supervised warm start before RL (0: none)
    warm_start_epochs: int = 1
    warm_start_learning_rate: float = 5e-4
    warm_start_tokens_per_forward: int = WARM_START_TOKENS_PER_FORWARD  # a warm-start pass holds at most this many
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, more compute
    eval_every: int = 10  # steps between held-out evaluations (0: only before and after)
    eval_episodes: int = 64
    eval_seed: int = 0  # held-out episodes eval_seed, eval_seed+1, ... (seeds; a dataset env: those questions)
    train_seed: int = 100_000
    max_turns: int = 8
    max_tokens_per_turn: int = 48
    max_total_tokens: int = 1024
    temperature: float = 1.0
    beta: float = 0.0  # KL to the reference (the model with the adapter disabled)
    epsilon: float = 0.2
    loss_type: str = "dapo"
    value_coef: float = 0.5  # PPO
    value_clip: float = 0.2  # PPO
    gae_lambda: float = 0.95  # PPO
    backend: str = "transformers"  # the rollouts' sampler: the policy itself, or a vLLM engine in the process
    rollout_dtype: str = "auto"  # vLLM's weights; auto: float32 on a CPU, the checkpoint's dtype on a GPU
    importance_sampling_cap: float = 2.0  # vLLM: truncated importance sampling's cap (0: no correction)
    save_every: int = 5
    save_total_limit: int = 2
    seed: int = 0

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
        from agent_r1.trainer.backends import BACKENDS

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
           "gae_lambda", "importance_sampling_cap")


def field_defaults() -> dict[str, Any]:
    return {f.name: (f.default if f.default is not MISSING else f.default_factory()) for f in fields(TrainConfig)}

"""The sections of a training run's settings (TrainConfig's `rollout`, `warm_start` and `ppo`), and `setting`, which
declares a field with its help text, command-line option and bounds: one source for `agent-r1 train --help`, config
files, validation and the docs' table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

ROLLOUT_DTYPES = ("auto", "float32", "bfloat16", "float16")
# A warm-start batch runs in slices of rows of at most this many tokens (at least one row). On the reference CPU the
# time per token is the same at 512, 1024 and 4096, and the process's peak 3.4, 5.1 and 10.8 GB
# (benchmarks/memory_peak.py, SynthHop episodes of about 460 tokens).
WARM_START_TOKENS_PER_FORWARD = 512
KV_CACHE_HELP = ("vllm backend: its KV cache in GiB (0 or unset: 1 on a CPU, the engine's share of memory on a GPU); a "
                 "cache smaller than the episodes in flight drops histories that their next turns then read again")


def setting(default: Any, help: str, flag: str | None = None, least: float | None = None,
            above: float | None = None) -> Any:
    """A setting with its help text, the one source for `agent-r1 train --help`, config files and the docs. `flag`
    names its command-line option where that is not --FIELD-NAME (--SECTION-FIELD-NAME in a section; a dict field:
    repeatable KEY=VALUE flags); `least` and `above` bound a number (a float must also be finite)."""
    metadata = {"help": help, "flag": flag, "least": least, "above": above}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type, help: str) -> Any:
    return field(default_factory=cls, metadata={"help": help, "section": True})


@dataclass(frozen=True)
class RolloutSettings:
    """How training episodes are sampled (held-out evaluation samples greedily, with the same limits)."""

    max_turns: int = setting(8, "the rollout engine's cap on the model's turns in an episode; an env's own turn "
                             "budget ends episodes first where it is lower (SynthHop: hops + 2; raise it with "
                             "--env-arg max_turns=N)", flag="--max-turns", least=1)
    max_tokens_per_turn: int = setting(48, "the most tokens the model writes in one turn", flag="--max-tokens-per-turn",
                                       least=1)
    max_total_tokens: int = setting(1024, "the most tokens of an episode, prompt and observations included",
                                    flag="--max-total-tokens", least=1)
    temperature: float = setting(1.0, "the sampling temperature (held-out evaluation is greedy)", flag="--temperature",
                                 above=0)
    backend: str = setting("transformers", "the sampler: transformers (the policy itself) or vllm (a vLLM engine in "
                           "the training process, handed the policy's weights after every optimiser step)",
                           flag="--backend")
    dtype: str = setting("auto", "the vllm backend's weights: auto (float32 on a CPU, the checkpoint's on a GPU), "
                         "float32, bfloat16 or float16; the importance-sampling correction covers the difference "
                         "from the trained policy")
    kv_cache_gb: float = setting(0.0, KV_CACHE_HELP, flag="--kv-cache-gb", least=0)
    importance_sampling_cap: float = setting(2.0, "vllm backend: each sampled token's loss is weighted by "
                                             "min(p_policy / p_vllm, CAP), truncated importance sampling; 0 turns "
                                             "the correction off", flag="--importance-sampling-cap", least=0)

    def engine(self):
        """The rollout engine's own config (trainer/rollout/engine.py) for these settings; imported here, when
        needed, since the engine needs torch."""
        from agent_r1.trainer.rollout.engine import RolloutConfig

        return RolloutConfig(max_turns=self.max_turns, max_tokens_per_turn=self.max_tokens_per_turn,
                             max_total_tokens=self.max_total_tokens, temperature=self.temperature)

    def problems(self) -> list[str]:
        from agent_r1.trainer.rollout.backends import BACKENDS, KV_CACHE_NEEDS_VLLM

        problems = []
        if self.backend not in BACKENDS:
            problems.append(f"rollout.backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.dtype not in ROLLOUT_DTYPES:
            problems.append(f"rollout.dtype must be one of {', '.join(ROLLOUT_DTYPES)}, got {self.dtype!r}")
        elif self.dtype != "auto" and self.backend != "vllm":
            problems.append("rollout.dtype sets the vllm backend's weights: the transformers backend samples from the "
                            "policy itself")
        if self.kv_cache_gb and self.backend != "vllm":
            problems.append(f"rollout.kv_cache_gb: {KV_CACHE_NEEDS_VLLM}")
        cap = self.importance_sampling_cap
        if math.isfinite(cap) and 0 < cap < 1:
            problems.append(f"rollout.importance_sampling_cap must be 0 (no correction) or at least 1, got {cap}")
        return problems


@dataclass(frozen=True)
class WarmStartSettings:
    """Supervised fine-tuning on oracle episodes before RL (trainer/sft.py), so that RL starts from a policy that
    already follows the action format."""

    episodes: int = setting(0, "oracle episodes of the warm start (0: none)", flag="--warm-start", least=0)
    epochs: int = setting(1, "passes over the episodes", least=1)
    learning_rate: float = setting(5e-4, "the learning rate", above=0)
    batch_size: int = setting(8, "oracle episodes per optimiser step (what a pass holds in memory is "
                              "tokens_per_forward's to bound, not this)", least=1)
    tokens_per_forward: int = setting(WARM_START_TOKENS_PER_FORWARD, "the most tokens one forward pass holds: each "
                                      "batch runs in slices of rows; memory grows with it, speed barely", least=1)
    seed: int = setting(10_000, "the first oracle episode's seed (episode i: SEED + i); keep the range apart from "
                        "the held-out episodes'", least=0)

    def problems(self) -> list[str]:
        return []


@dataclass(frozen=True)
class PPOSettings:
    """PPO's critic (algo=ppo only)."""

    value_coef: float = setting(0.5, "the value loss's weight", flag="--value-coef", least=0)
    value_clip: float = setting(0.2, "the value estimate's clipping range", flag="--value-clip", least=0)
    gae_lambda: float = setting(0.95, "GAE's lambda", flag="--gae-lambda", least=0)

    def problems(self) -> list[str]:
        if math.isfinite(self.gae_lambda) and self.gae_lambda > 1:
            return [f"ppo.gae_lambda must be between 0 and 1, got {self.gae_lambda}"]
        return []

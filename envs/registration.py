"""The AgentR1/* ids. String entry points keep `import agent_r1.envs` light."""

from __future__ import annotations

import importlib
from typing import Iterable

import gymnasium as gym

_SYNTHHOP = "agent_r1.envs.synthhop:SynthHopEnv"
_DATASET = "agent_r1.envs.datasets:MultiHopQAEnv"

# id -> (entry point, default kwargs); gym.make(id, **kwargs) overrides any of them.
ENVS: dict[str, tuple[str, dict]] = {
    "AgentR1/SynthHop-v0": (_SYNTHHOP, {"hops": 2}),
    "AgentR1/SynthHop-1Hop-v0": (_SYNTHHOP, {"hops": 1, "question_types": ("chain",)}),
    "AgentR1/SynthHop-Hard-v0": (_SYNTHHOP, {"hops": (3, 4), "num_distractors": 16, "world_size": 60}),
    "AgentR1/HotpotQA-v0": (_DATASET, {"dataset": "hotpotqa"}),
    "AgentR1/2WikiMultihopQA-v0": (_DATASET, {"dataset": "2wikimultihopqa"}),
    "AgentR1/MuSiQue-v0": (_DATASET, {"dataset": "musique"}),
    "AgentR1/Arithmetic-v0": ("agent_r1.envs.arithmetic:ArithmeticEnv", {}),
    "AgentR1/Mixture-v0": ("agent_r1.envs.mixture:MixtureEnv", {}),  # needs members=[[id, kwargs, weight], ...]
}
# dataset name -> its env id, in the paper's order (HotpotQA and 2Wiki in domain, MuSiQue out of domain)
DATASET_ENV_IDS: dict[str, str] = {kwargs["dataset"]: env_id for env_id, (entry, kwargs) in ENVS.items() if entry == _DATASET}


def register_envs() -> None:
    for env_id, (entry_point, kwargs) in ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs)


def unknown_env_ids(env_ids: Iterable[str]) -> list[str]:
    """The ids among `env_ids` that gym.make would not find, each with why (an empty list when all are found).

    Gymnasium's `module:Env-v0` form works as in gym.make: `module` is imported first (it registers Env-v0), so an
    env of one's own package needs no wrapper script."""
    unknown = []
    for env_id in dict.fromkeys(env_ids):
        module, _, name = env_id.rpartition(":")
        if module:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                unknown.append(f"{env_id!r} (importing {module}: {exc})")
                continue
        if name not in gym.registry:
            unknown.append(repr(env_id) if not module else f"{env_id!r} ({module} registers no {name})")
    return unknown

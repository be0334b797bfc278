"""The AgentR1/* ids. String entry points keep `import agent_r1.envs` light."""

from __future__ import annotations

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


def register_envs() -> None:
    for env_id, (entry_point, kwargs) in ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs)

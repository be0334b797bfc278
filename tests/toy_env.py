"""A two-turn text env whose reward any random model can vary: the vowels it writes.

Trainer tests need rewards that differ within a group; a random tiny model
never writes a valid tool call, so a QA env would pay every episode the same.
"""

from __future__ import annotations

import gymnasium as gym

from agent_r1.envs.actions import SearchR1Parser
from agent_r1.envs.spaces import UnicodeText

ENV_ID = "AgentR1Test/Vowels-v0"


class VowelsEnv(gym.Env[str, str]):
    metadata = {"render_modes": []}

    def __init__(self, turns: int = 2, reward: str = "outcome") -> None:  # `agent-r1 train` passes its reward preset
        self.observation_space, self.action_space = UnicodeText(), UnicodeText()
        self.parser = SearchR1Parser()
        self.turns = turns
        self.messages: list[dict[str, str]] = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.messages = [{"role": "user", "content": f"Write vowels. Task {seed}."}]
        self._turn = 0
        return self.messages[0]["content"], {"task_id": str(seed)}

    def step(self, action: str):
        self._turn += 1
        self.messages.append({"role": "assistant", "content": action})
        reward = sum(action.count(v) for v in "aeiou") / max(1, len(action))
        done = self._turn >= self.turns
        info = {"reward_components": {"vowels": reward}}
        if done:
            info["metrics"] = {"em": float(reward > 0.3), "f1": reward}
            return "", reward, True, False, info
        self.messages.append({"role": "user", "content": "Again."})
        return "Again.", reward, False, False, info

    def oracle_action(self) -> str:
        return "aeiou"


if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=VowelsEnv)

"""Reference policies: the oracle (upper bound) and a random agent (lower bound)."""

from __future__ import annotations

import random
import re
from typing import Protocol

from agent_r1.envs.actions import Answer, ToolCall
from agent_r1.envs.tool_env import ToolEnv

_WORD = re.compile(r"\w+")


class Policy(Protocol):
    name: str

    def reset(self, seed: int) -> None:
        """Called before each episode, with that episode's seed."""

    def act(self, env: ToolEnv) -> str:
        """The next action, given the env (its `messages` are the history)."""


class OraclePolicy:
    name = "oracle"

    def reset(self, seed: int) -> None:
        pass

    def act(self, env: ToolEnv) -> str:
        return env.oracle_action()


class RandomPolicy:
    """Half the time searches a few words of the question, else answers a few words seen so far."""

    name = "random"

    def __init__(self) -> None:
        self.rng = random.Random(0)

    def reset(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def act(self, env: ToolEnv) -> str:
        messages = env.messages
        first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
        # The task statement is the last line of the first user message (instructions come first).
        question = _WORD.findall(messages[first_user]["content"].rsplit("\n", 1)[-1])
        observed = " ".join(m["content"] for m in messages[first_user + 1 :] if m["role"] != "assistant")
        seen = question + _WORD.findall(observed)
        if self.rng.random() < 0.5 and question:
            return env.parser.render(ToolCall("search", {"query": " ".join(self._span(question))}))
        return env.parser.render(Answer(" ".join(self._span(seen or ["unknown"]))))

    def _span(self, words: list[str]) -> list[str]:
        length = self.rng.randint(1, 3)
        start = self.rng.randrange(max(1, len(words) - length + 1))
        return words[start : start + length]


POLICIES = {"oracle": OraclePolicy, "random": RandomPolicy}


def make_policy(name: str) -> Policy:
    try:
        return POLICIES[name]()
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}") from None

"""AgentR1/Mixture-v0: several environments as one, each episode posed by one of them.

A run that trains on HotpotQA and 2Wiki together needs one env that the
rollout engine, the warm start and GRPO's groups can share. `reset(seed=s)`
draws the member with the mixture's own generator seeded by `s` (weights
`weights`), then resets that member with the same seed: the members of a GRPO
group, which reset with one seed, get one env and one question.
`reset(options={"env": k, ...})` picks member k instead; the other options go
to the member (e.g. `"index"` for a dataset env's question).

Spaces: text, as every member's. Rewards, episode end and `step`'s info are the
active member's, with `env` (the member's id) added to the info, and `task_id`
(in reset's) qualified as `ENV_ID/TASK_ID`, since two datasets may reuse an id.
`messages`, `parser`, `tool_schemas()` and `oracle_action()` are the active
member's, so the rollout engine drives a mixture like any agent env.

Arguments: `members`, a list of `[env_id, kwargs]` or `[env_id, kwargs, weight]`
(weights default to 1 and are normalised).

Version history: v0, first version.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from agent_r1.envs.spaces import UnicodeText


def qualified(env_id: str, task_id: Any) -> str | None:
    """A task id that names its env, for runs that mix envs (two datasets may reuse an id)."""
    return None if task_id is None else f"{env_id}/{task_id}"


class MixtureEnv(gym.Env[str, str]):
    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, *, members: Sequence[Sequence[Any]], render_mode: str | None = None) -> None:
        if not members:
            raise ValueError("a mixture needs at least one member env")
        ids, kwargs, weights = [], [], []
        for member in members:
            if not isinstance(member, (list, tuple)) or len(member) not in (2, 3) or not isinstance(member[0], str) \
                    or not isinstance(member[1], dict):
                raise ValueError(f"a mixture member is [env_id, kwargs] or [env_id, kwargs, weight], got {member!r}")
            weight = member[2] if len(member) == 3 else 1.0
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not np.isfinite(weight) or weight <= 0:
                raise ValueError(f"the weight of {member[0]} must be a number above 0, got {weight!r}")
            ids.append(member[0])
            kwargs.append(member[1])
            weights.append(float(weight))
        if len(set(ids)) != len(ids):
            raise ValueError(f"a mixture names each env once, got {ids}")
        self.env_ids = tuple(ids)
        self.weights = tuple(w / sum(weights) for w in weights)
        self.envs = [gym.make(env_id, render_mode=render_mode, **kw) if render_mode else gym.make(env_id, **kw)
                     for env_id, kw in zip(ids, kwargs)]
        self.render_mode = render_mode
        self.observation_space = UnicodeText()
        self.action_space = UnicodeText()
        self._active: int | None = None

    @property
    def active(self) -> gym.Env:
        """The member posing the current episode (the unwrapped env)."""
        if self._active is None:
            raise RuntimeError("no episode yet: call reset() first")
        return self.envs[self._active].unwrapped

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        chosen = options.pop("env", None)
        if chosen is None:
            chosen = int(self.np_random.choice(len(self.envs), p=self.weights))
        elif chosen in self.env_ids:
            chosen = self.env_ids.index(chosen)
        elif isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(self.envs):
            raise ValueError(f"options['env'] must be a member's id or index in [0, {len(self.envs)}), got {chosen!r}")
        self._active = chosen
        if seed is None:  # the member's draw must follow from the mixture's seed too, whichever member it is
            seed = int(self.np_random.integers(2**31))
        observation, info = self.envs[chosen].reset(seed=seed, options=options or None)
        return observation, self._qualify(info)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._active is None:
            raise RuntimeError("the episode is over (or never started): call reset() before step()")
        observation, reward, terminated, truncated, info = self.envs[self._active].step(action)
        return observation, reward, terminated, truncated, self._qualify(info)

    def _qualify(self, info: dict[str, Any]) -> dict[str, Any]:
        env_id = self.env_ids[self._active]
        task = {"task_id": qualified(env_id, info["task_id"])} if "task_id" in info else {}
        return {**info, "env": env_id, **task}

    def render(self) -> str | None:
        return self.envs[self._active].render() if self._active is not None else None

    def close(self) -> None:
        for env in self.envs:
            env.close()

    # ---- what the rollout engine reads: the active member's --------------------
    @property
    def messages(self) -> list[dict[str, str]]:
        return self.active.messages

    @property
    def parser(self):
        return self.active.parser

    def tool_schemas(self) -> list[dict[str, Any]]:
        return self.active.tool_schemas()

    def oracle_action(self) -> str:
        return self.active.oracle_action()

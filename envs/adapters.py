"""Any AgentR1/* env inside other RL libraries.

- TRL: `trl_environment_factory(env_id)` for `GRPOTrainer(environment_factory=...)`. TRL offers the
  environment's public methods to the model as tools; here they are the env's own tools (search,
  calculator, python, ...) plus `answer`, which ends the episode. `get_reward()` is the env's
  return (process rewards included).
- SkyRL-gym: `register_skyrl_envs()` registers every AgentR1/* id with `skyrl_gym`, whose envs
  take OpenAI messages in and out (`init(prompt)`, `step(action)` -> observations, reward, done).

Neither library is imported until an adapter is used.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import gymnasium as gym

from agent_r1.envs.actions import Answer, ToolCall

_JSON_TO_PYTHON = {"string": str, "integer": int, "number": float, "boolean": bool}


def _tool_method(schema: dict) -> Callable[..., str]:
    """A method with the tool's signature and a Google-style docstring (what TRL reads), from its JSON schema."""
    function = schema["function"]
    properties = function["parameters"].get("properties", {})
    types = {name: _JSON_TO_PYTHON.get(spec.get("type"), str) for name, spec in properties.items()}

    def method(self, *args: Any, **kwargs: Any) -> str:
        bound = method.__signature__.bind(self, *args, **kwargs)
        return self._act(ToolCall(function["name"], {k: v for k, v in bound.arguments.items() if k != "self"}))

    method.__name__ = function["name"]
    method.__annotations__ = types | {"return": str}
    method.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=t) for name, t in types.items()],
        return_annotation=str)
    method.__doc__ = "\n".join([function["description"], "", "Args:"]
                               + [f"    {name}: {spec.get('description', name)}" for name, spec in properties.items()])
    return method


class TRLEnvironment:
    """One episode of an AgentR1 env in TRL's environment protocol."""

    def __init__(self, env_id: str, **env_kwargs: Any) -> None:
        self.env = gym.make(env_id, **env_kwargs)
        self.total_reward = 0.0
        self.done = False
        self.info: dict[str, Any] = {}

    def reset(self, **row: Any) -> str:
        """Starts the episode of the dataset row's `seed` (and `index`, for a dataset env)."""
        seed = row.get("seed")
        options = {"index": int(row["index"])} if "index" in row else None
        _, info = self.env.reset(seed=None if seed is None else int(seed), options=options)
        self.total_reward, self.done, self.info = 0.0, False, info
        statement = info.get("question", "")
        return f"\n\n{statement}\nUse the tools, then call `answer` with the final answer." if statement else ""

    def _act(self, action: ToolCall | Answer) -> str:
        if self.done:
            return "The episode is over: the answer was given or the turn budget is spent."
        observation, reward, terminated, truncated, info = self.env.step(self.env.unwrapped.parser.render(action))
        self.total_reward += float(reward)
        self.info = info
        self.done = terminated or truncated
        if self.done:
            return observation or ("Answer recorded." if terminated else "The turn budget is spent.")
        return observation

    def answer(self, answer: str) -> str:
        """Give the final answer; this ends the episode.

        Args:
            answer: the final answer, a few words
        """
        return self._act(Answer(answer))

    def get_reward(self) -> float:
        return self.total_reward


def trl_environment_factory(env_id: str, **env_kwargs: Any) -> Callable[[], TRLEnvironment]:
    """A factory for `GRPOTrainer(environment_factory=...)`; each instance runs one episode at a time."""
    probe = gym.make(env_id, **env_kwargs)
    probe.reset(seed=0)
    schemas = probe.unwrapped.tool_schemas()
    probe.close()
    # TRL lists tools from the class's functions, so the env's tools become methods of a subclass.
    namespace = {schema["function"]["name"]: _tool_method(schema) for schema in schemas}
    cls = type(f"TRL{env_id.split('/')[-1].replace('-', '_')}", (TRLEnvironment,), namespace)
    return lambda: cls(env_id, **env_kwargs)


class SkyRLEnv:
    """An AgentR1 env as a SkyRL-gym `BaseTextEnv`: OpenAI messages in and out.

    `extras` carries `seed` (and `index` for a dataset env) and `env_kwargs`; SkyRL's prompt is
    replaced by the env's own first messages.
    """

    def __init__(self, env_config: Any = None, extras: dict[str, Any] | None = None, *, env_id: str = "") -> None:
        extras = dict(extras or {})
        self.env = gym.make(env_id, **dict(extras.get("env_kwargs", {})))
        self.seed = extras.get("seed")
        self.index = extras.get("index")
        self.turns = 0
        self.max_turns = self.env.unwrapped.max_turns

    def init(self, prompt: list[dict[str, str]] | None = None) -> tuple[list[dict[str, str]], dict[str, Any]]:
        options = {"index": int(self.index)} if self.index is not None else None
        _, info = self.env.reset(seed=None if self.seed is None else int(self.seed), options=options)
        self.turns = 0
        return [dict(m) for m in self.env.unwrapped.messages], dict(info)

    def step(self, action: str) -> dict[str, Any]:
        self.turns += 1
        before = len(self.env.unwrapped.messages) + 1  # the assistant's message is appended by step
        _, reward, terminated, truncated, info = self.env.step(action)
        new = [dict(m) for m in self.env.unwrapped.messages[before:]]
        metadata = {"reward_components": info.get("reward_components", {}), **({"metrics": info["metrics"]} if "metrics" in info else {})}
        return {"observations": new, "reward": float(reward), "done": bool(terminated or truncated),
                "metadata": metadata, "postprocessed_action": None}

    def close(self) -> None:
        self.env.close()


def register_skyrl_envs() -> list[str]:
    """Registers every AgentR1/* id with skyrl_gym (same ids); returns them."""
    import skyrl_gym
    from skyrl_gym.envs.base_text_env import BaseTextEnv

    import agent_r1.envs  # noqa: F401

    ids = [env_id for env_id in gym.registry if env_id.startswith("AgentR1/")]
    adapter = type("AgentR1SkyRLEnv", (SkyRLEnv, BaseTextEnv), {})
    for env_id in ids:
        if env_id not in skyrl_gym.registry:
            skyrl_gym.register(id=env_id, entry_point=lambda env_config=None, extras=None, _id=env_id: adapter(env_config, extras, env_id=_id))
    return ids

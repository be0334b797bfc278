"""Any AgentR1/* env as a verifiers (>= 0.4, `verifiers.v1`) environment.

`load_environment(env_id, num_tasks=..., seed=...)` returns a `vf.Env` whose tasks are
episodes (seeds) of the Gymnasium env. The Gymnasium env plays the user, the same way
verifiers' own TextArena and OpenEnv tasksets drive their game engines: each model
reply is an action text for `env.step()`, and the observation returns as the next user
turn. The trace's reward is the episode return, and the final metrics (em, f1, ...)
are its metrics.

The model acts in the env's own text protocol (`<search>`, `<tool_call>`, `<answer>`,
as the first message explains), so the seat's harness, `AgentR1Harness`, is a plain
chat call with no tools of its own. It runs in-process instead of as a `uv` script,
so it needs neither network nor sandbox.

Importing this module imports verifiers; `import agent_r1.envs` never imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import httpx
from pydantic import Field

import verifiers.v1 as vf
from verifiers.v1.dialects.chat import message_to_wire

# verifiers resolves tasksets and harnesses by an id naming an importable top-level
# module (`_import_plugin` in verifiers/v1/utils/loaders.py), and this module lives
# under agent_r1.envs. Registering it under a top-level name makes it a plugin for
# this process; the vf-eval CLI and spawned env-server workers would need a real
# top-level package (see the report / a packaging entry).
PLUGIN_ID = "agent-r1-verifiers"
sys.modules.setdefault(PLUGIN_ID.replace("-", "_"), sys.modules[__name__])


class AgentR1TasksetConfig(vf.TasksetConfig):
    env_id: str = "AgentR1/SynthHop-v0"
    """The Gymnasium id (any registered AgentR1/* id)."""
    num_tasks: int = Field(8, ge=1)
    """How many episodes: seeds `seed`, `seed + 1`, ..."""
    seed: int = 0
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Passed to `gym.make(env_id, **env_kwargs)`."""


class AgentR1Data(vf.TaskData):
    env_id: str
    seed: int
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    question: str | None = None


class AgentR1Task(vf.Task[AgentR1Data]):
    """Scores what `AgentR1Env.run` left on `trace.info["agent_r1"]`: the episode return and final metrics."""

    @vf.reward(weight=1.0)
    async def episode_return(self, trace: vf.Trace) -> float:
        return float(trace.info.get("agent_r1", {}).get("return", 0.0))

    @vf.metric
    async def episode_metrics(self, trace: vf.Trace) -> dict[str, float]:
        metrics = trace.info.get("agent_r1", {}).get("metrics", {})
        # verifiers metrics are floats; skip the non-numeric extras some envs report.
        return {name: float(value) for name, value in metrics.items() if isinstance(value, (bool, int, float))}


class AgentR1Taskset(vf.Taskset[AgentR1Task, AgentR1TasksetConfig]):
    def load(self) -> Iterator[AgentR1Task]:
        import agent_r1.envs  # noqa: F401  (registers the AgentR1/* ids)

        config = self.config
        env = gym.make(config.env_id, **config.env_kwargs)
        try:
            for seed in range(config.seed, config.seed + config.num_tasks):
                # The prompt is the env's own first message, so the trace records what the model saw.
                _, info = env.reset(seed=seed)
                messages = env.unwrapped.messages
                system = next((m["content"] for m in messages if m["role"] == "system"), None)
                yield AgentR1Task(
                    AgentR1Data(
                        id=None if info.get("task_id") is None else str(info["task_id"]),
                        name=f"{config.env_id}#{seed}",
                        prompt=messages[-1]["content"],
                        system_prompt=system,
                        env_id=config.env_id,
                        seed=seed,
                        env_kwargs=config.env_kwargs,
                        question=info.get("question"),
                    ),
                    config.task,
                )
        finally:
            env.close()


class AgentR1EnvConfig(vf.EnvConfig):
    # The harness runs no code, so the local subprocess runtime suffices (the default is a remote sandbox).
    agent: vf.AgentConfig = vf.AgentConfig(runtime=vf.SubprocessConfig())
    """The policy's seat (`--env.agent.*`), named as in verifiers' SingleAgentEnv."""


class AgentR1Env(vf.Env[AgentR1EnvConfig]):
    async def run(self, task: AgentR1Task, agents: vf.Agents) -> None:
        data = task.data
        env = gym.make(data.env_id, **data.env_kwargs)
        try:
            env.reset(seed=data.seed)
            total, outcome = 0.0, {"terminated": False, "truncated": False}
            async with agents.agent.interaction(task) as interaction:
                segment = await interaction.turn()  # a prompted task: the model speaks first
                while not segment.terminated:  # a verifiers limit or failure can end the exchange first
                    observation, reward, terminated, truncated, info = env.step(segment.last_reply)
                    total += float(reward)
                    if terminated or truncated:
                        outcome = {"terminated": terminated, "truncated": truncated, "metrics": info.get("metrics", {})}
                        break
                    segment = await interaction.turn(observation)
                # Written before the interaction closes, because closing runs AgentR1Task's scoring.
                interaction.trace.info["agent_r1"] = {"return": total, "turns": env.unwrapped.turn, **outcome}
        finally:
            env.close()


class AgentR1Harness(vf.Harness[vf.HarnessConfig]):
    """One chat completion per segment, in-process, through the rollout's interception endpoint."""

    APPENDS_SYSTEM_PROMPT = True
    SUPPORTS_RESUME = True  # the default resume() relaunches on the whole conversation
    EXECUTES_CODE = False
    NEEDS_CONTAINER = False

    async def launch(
        self,
        ctx: vf.ModelContext,
        trace: vf.Trace,
        runtime: vf.Runtime,
        endpoint: str,
        secret: str,
        mcp_urls: dict[str, str],
        data: vf.TaskData,
    ) -> vf.ProgramResult:
        system, prompt = self.resolve_prompt(data)
        messages = [{"role": "system", "content": system}] if system else []
        if isinstance(prompt, str):
            messages.append({"role": "user", "content": prompt})
        else:
            messages += [message_to_wire(message) for message in prompt or []]
        # The interception records the turn on the trace; the reply reaches AgentR1Env through it.
        async with httpx.AsyncClient(timeout=None) as http:
            response = await http.post(
                f"{endpoint}/chat/completions",
                json={"model": ctx.model, "messages": messages},
                headers={"Authorization": f"Bearer {secret}"},
            )
        if response.is_error:
            return vf.ProgramResult(exit_code=1, stdout="", stderr=response.text)
        return vf.ProgramResult(exit_code=0, stdout=response.json()["choices"][0]["message"].get("content") or "", stderr="")


def load_environment(env_id: str = "AgentR1/SynthHop-v0", num_tasks: int = 8, seed: int = 0, **env_kwargs: Any) -> AgentR1Env:
    """A verifiers env of `num_tasks` episodes of `env_id` (seeds `seed`, `seed + 1`, ...).

    Run it as verifiers' eval runner does: `async with env.serving():` then
    `await env.run_slot(slot, vf.ModelContext(model=..., client=vf.EvalClientConfig(base_url=...)))`
    for each `slot` in `env.slots(task)` and `task` in `env.taskset`.
    """
    taskset = AgentR1TasksetConfig(id=PLUGIN_ID, env_id=env_id, num_tasks=num_tasks, seed=seed, env_kwargs=env_kwargs)
    env = vf.load_environment(AgentR1EnvConfig(taskset=taskset))
    assert isinstance(env, AgentR1Env)
    return env


# What verifiers' plugin loader reads: exactly one Taskset, Env and Harness subclass.
__all__ = ["AgentR1Env", "AgentR1Harness", "AgentR1Taskset", "load_environment"]

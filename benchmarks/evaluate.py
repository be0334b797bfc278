"""Running a policy on an environment for many episodes and summarising the metrics."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

import agent_r1.envs  # noqa: F401  (registers the AgentR1/* ids)
from agent_r1.benchmarks.policies import Policy


# Metrics reported as means over episodes, in table order.
SUMMARY_METRICS = ("em", "f1", "cover_em", "gold_recall", "turns", "searches", "invalid_actions", "return")


def run_episode(env: gym.Env, policy: Policy, seed: int) -> dict[str, Any]:
    policy.reset(seed)
    env.reset(seed=seed)
    while True:
        _, _, terminated, truncated, info = env.step(policy.act(env.unwrapped))
        if terminated or truncated:
            break
    return {
        "seed": seed,
        "task_id": env.unwrapped.task.id if getattr(env.unwrapped, "task", None) else None,
        "metrics": info["metrics"],
        "prediction": info.get("prediction"),
        "gold_answer": info.get("gold_answer"),
        "messages": env.unwrapped.messages,
    }


def evaluate(
    env_id: str, policy: Policy, episodes: int, seed: int = 0, env_kwargs: dict[str, Any] | None = None, progress: bool = True
) -> dict[str, Any]:
    """Runs episodes with seeds seed, seed+1, ... and returns the summary and every episode."""
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    env = gym.make(env_id, **(env_kwargs or {}))
    start = time.perf_counter()
    records = [
        run_episode(env, policy, seed + i)
        for i in tqdm(range(episodes), desc=f"{policy.name} on {env_id}", disable=not progress, leave=False)
    ]
    seconds = time.perf_counter() - start
    env.close()
    summary = {
        name: sum(float(r["metrics"][name]) for r in records) / len(records)
        for name in SUMMARY_METRICS
        if name in records[0]["metrics"]
    }
    summary["episodes"] = len(records)
    summary["seconds"] = seconds
    return {"env": env_id, "policy": policy.name, "seed": seed, "summary": summary, "episodes": records}


def format_table(results: list[dict[str, Any]]) -> str:
    """A Markdown table with one row per (env, policy) result."""
    columns = [m for m in SUMMARY_METRICS if any(m in r["summary"] for r in results)]
    header = ["env", "policy", "episodes", *columns]
    rows = [
        [r["env"], r["policy"], str(r["summary"]["episodes"])]
        + [f"{r['summary'][m]:.3f}" if m in r["summary"] else "-" for m in columns]
        for r in results
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)

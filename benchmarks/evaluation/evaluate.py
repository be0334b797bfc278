"""Running a policy on an environment for many episodes and summarising the metrics."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

import agent_r1.envs  # noqa: F401  (registers the AgentR1/* ids)
from agent_r1.envs.metrics import SUMMARY_METRICS, summarize
from agent_r1.benchmarks.evaluation.policies import Policy
from agent_r1.trainer.rollout.episodes import plan_episodes, run_episodes


def run_episode(env: gym.Env, policy: Policy, seed: int, options: dict[str, Any] | None = None) -> dict[str, Any]:
    policy.reset(seed)
    env.reset(seed=seed, options=options)
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
    """Runs episodes seed, seed+1, ... (trainer/rollout/episodes.py: a dataset env's questions in order) and returns
    the summary and every episode."""
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    env = gym.make(env_id, **(env_kwargs or {}))
    plan = plan_episodes(env, range(seed, seed + episodes), cap=True)
    start = time.perf_counter()
    records = [
        run_episode(env, policy, episode_seed, options)
        for episode_seed, options in tqdm(list(zip(plan.seeds, plan.options)), desc=f"{policy.name} on {env_id}",
                                          disable=not progress, leave=False)
    ]
    seconds = time.perf_counter() - start
    env.close()
    summary = summarize([r["metrics"] for r in records])
    summary["episodes"] = len(records)
    summary["seconds"] = seconds
    return {"env": env_id, "policy": policy.name, "seed": seed, "summary": summary, "episodes": records}


def evaluate_model(
    env_id: str,
    model: str,
    episodes: int,
    *,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    backend: str = "transformers",
    batch_size: int = 16,
    rollout_config: Any = None,
    progress: bool = True,
    continuous: bool = False,
    dtype: str = "float32",
    kv_cache_gb: float | None = None,
) -> dict[str, Any]:
    """Runs a model through the rollout engine, `batch_size` episodes at a time (continuous batching
    within a batch when `continuous`), its weights in `dtype` (and vLLM's KV cache of `kv_cache_gb` GiB)."""
    from agent_r1.trainer.rollout.backends import make_generator
    from agent_r1.trainer.rollout.engine import RolloutConfig, RolloutEngine

    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    generator, tokenizer = make_generator(model, backend, seed=seed, continuous=continuous, dtype=dtype,
                                          kv_cache_gb=kv_cache_gb)
    engine = RolloutEngine(generator, tokenizer, env_id, env_kwargs=env_kwargs, config=rollout_config or RolloutConfig(temperature=0.0))
    probe = engine.env_factory()
    plan = plan_episodes(probe, range(seed, seed + episodes), cap=True)
    probe.close()
    start = time.perf_counter()
    trajectories = run_episodes(engine, plan, batch_size=batch_size, progress=progress, desc=f"{model} on {env_id}")
    seconds = time.perf_counter() - start
    engine.close()
    summary = summarize([t.metrics | {"return": t.episode_return} for t in trajectories])
    generated = sum(t.num_model_tokens for t in trajectories)
    summary.update(episodes=len(trajectories), seconds=seconds, generated_tokens=generated, tokens_per_second=generated / seconds)
    return {
        "env": env_id,
        "policy": model,
        "backend": backend,
        "continuous": continuous,
        "dtype": dtype,
        "seed": seed,
        "summary": summary,
        "episodes": [
            {"seed": t.seed, "task_id": t.task_id, "metrics": t.metrics, "messages": t.messages,
             "trajectory": {k: v for k, v in t.to_dict().items() if k != "messages"}}
            for t in trajectories
        ],
    }


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

"""`agent-r1 bench`: every agent on every env, fixed episodes, resumable, with tables and a chart.

An output folder holds
    episodes/POLICY__ENV.jsonl   one line per finished episode (with its transcript), appended as they finish;
                                 a failed episode (e.g. a served model's malformed reply) has its `error`
                                 and scores as unanswered
    summary.json                 per env and policy: EM, F1, cover-EM, gold recall, turns, searches,
                                 invalid actions, tokens, wall time, failed episodes
    results.md                   EM laid out like the paper (rows: methods; columns: datasets, average),
                                 then every metric
    em.png                       EM per dataset and method
A run started again on the same folder skips the episodes already there.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
from tqdm.auto import tqdm

from agent_r1.benchmarks.evaluation.agents import Agent
from agent_r1.benchmarks.evaluation.reference import PAPER_EM, short_name
from agent_r1.envs.metrics import SUMMARY_METRICS, summarize
from agent_r1.trainer.rollout.episodes import plan_episodes
from agent_r1.trainer.plotting import pyplot

logger = logging.getLogger(__name__)



def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")


def episodes_path(out: Path, policy: str, env_id: str) -> Path:
    return out / "episodes" / f"{_slug(policy)}__{_slug(env_id)}.jsonl"


def read_episodes(path: Path) -> list[dict[str, Any]]:
    """The finished episodes of a file; a last line cut short by an interruption is ignored."""
    if not path.exists():
        return []
    episodes = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            episodes.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s line %d is incomplete; that episode runs again", path, number)
    return episodes


def _repair(path: Path) -> list[dict[str, Any]]:
    """Rewrites a file whose last line was cut short, so that appending starts on a clean line."""
    episodes = read_episodes(path)
    if path.exists() and path.read_text() != "".join(json.dumps(e, default=str) + "\n" for e in episodes):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(json.dumps(e, default=str) + "\n" for e in episodes))
        tmp.replace(path)
    return episodes


def run_bench(agents: Sequence[Agent], envs: Sequence[str], out: Path, *, limit: int, seed: int = 0,
              env_kwargs: dict[str, dict[str, Any]] | None = None, batch_size: int = 16, progress: bool = True,
              include_paper: bool = False) -> dict:
    """Runs episodes seed .. seed+limit-1 of every env with every agent, skipping those already in `out`."""
    out = Path(out)
    (out / "episodes").mkdir(parents=True, exist_ok=True)
    env_kwargs = env_kwargs or {}
    wanted = list(range(seed, seed + limit))
    posed = {env_id: _posed(env_id, env_kwargs.get(env_id, {}), wanted) for env_id in envs}
    for agent in agents:
        for env_id in envs:
            path = episodes_path(out, agent.name, env_id)
            done = {e["index"] for e in _repair(path)}
            todo = [i for i in posed[env_id] if i not in done]
            if len(todo) < len(posed[env_id]):
                logger.info("%s on %s: %d of %d episodes already done", agent.name, env_id,
                            len(posed[env_id]) - len(todo), len(posed[env_id]))
            with tqdm(total=len(posed[env_id]), initial=len(posed[env_id]) - len(todo), desc=f"{agent.name} on {short_name(env_id)}",
                      disable=not progress, leave=False) as bar:
                for first in range(0, len(todo), batch_size):
                    results = agent.run(env_id, env_kwargs.get(env_id, {}), todo[first : first + batch_size])
                    with path.open("a") as f:
                        for result in results:
                            f.write(json.dumps(result.to_dict(), default=str) + "\n")
                    bar.update(len(results))
    summary = summarize_folder(out, wanted)
    write_reports(out, summary, include_paper=include_paper)
    return summary


def _posed(env_id: str, kwargs: dict[str, Any], wanted: list[int]) -> list[int]:
    """The episodes of `wanted` the env can pose: a dataset file of 100 questions poses questions 0 to 99 only
    (never the same question twice under two indices)."""
    env = gym.make(env_id, **kwargs)
    try:
        return list(plan_episodes(env, wanted, cap=True).seeds)
    finally:
        env.close()


def summarize_folder(out: Path, indices: Sequence[int] | None = None) -> dict[str, Any]:
    """{"results": [{"env", "policy", "episodes", metric: mean, ...}], ...} over the episode files of `out`."""
    rows = []
    for path in sorted((Path(out) / "episodes").glob("*.jsonl")):
        episodes = read_episodes(path)
        if indices is not None:
            keep = set(indices)
            episodes = [e for e in episodes if e["index"] in keep]
        episodes = list({e["index"]: e for e in episodes}.values())
        if not episodes:
            continue
        row = {"env": episodes[0]["env"], "policy": episodes[0]["policy"], "episodes": len(episodes)}
        row |= summarize(e["metrics"] for e in episodes)
        row["tokens"] = sum(e.get("tokens", 0) for e in episodes) / len(episodes)
        row["seconds"] = sum(e.get("seconds", 0.0) for e in episodes)
        row["failed"] = sum(1 for e in episodes if e.get("error"))
        rows.append(row)
    return {"results": rows}


def paper_table(summary: dict[str, Any], *, include_paper: bool = False, metric: str = "em") -> str:
    """Rows: methods; columns: datasets in a fixed order, then the average (the paper's Table layout)."""
    rows = summary["results"]
    envs = sorted({r["env"] for r in rows}, key=lambda e: (_ORDER.get(short_name(e), 99), e))
    names = [short_name(e) for e in envs]
    lines = ["| method | " + " | ".join(names) + " | average |", "|---" * (len(names) + 2) + "|"]
    if include_paper:
        for method, values in PAPER_EM.items():
            cells = [values.get(n) for n in names]
            known = [c for c in cells if c is not None]
            average = f"{sum(known) / len(known):.4f}" if known and len(known) == len(cells) else "-"
            lines.append(f"| {method} (published, Qwen2.5-3B) | " + " | ".join("-" if c is None else f"{c:.4f}" for c in cells)
                         + f" | {average} |")
    for policy in dict.fromkeys(r["policy"] for r in rows):
        by_env = {r["env"]: r for r in rows if r["policy"] == policy}
        cells = [by_env[e].get(metric) if e in by_env else None for e in envs]
        known = [c for c in cells if c is not None]
        average = f"{sum(known) / len(known):.4f}" if len(known) == len(cells) else "-"
        lines.append(f"| {policy} | " + " | ".join("-" if c is None else f"{c:.4f}" for c in cells) + f" | {average} |")
    return "\n".join(lines)


_ORDER = {"HotpotQA": 0, "2Wiki": 1, "MuSiQue": 2}


def detail_table(summary: dict[str, Any]) -> str:
    columns = [*SUMMARY_METRICS, "tokens", "seconds"]
    lines = ["| env | policy | episodes | failed | " + " | ".join(columns) + " |", "|---" * (len(columns) + 4) + "|"]
    for r in summary["results"]:
        lines.append(f"| {short_name(r['env'])} | {r['policy']} | {r['episodes']} | {r.get('failed', 0)} | "
                     + " | ".join(f"{r[c]:.3f}" if c in r else "-" for c in columns) + " |")
    return "\n".join(lines)


def write_reports(out: Path, summary: dict[str, Any], *, include_paper: bool = False) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    text = f"## Exact match\n\n{paper_table(summary, include_paper=include_paper)}\n\n## Every metric\n\n{detail_table(summary)}\n"
    (out / "results.md").write_text(text)
    _chart(out, summary)


def _chart(out: Path, summary: dict[str, Any]) -> None:
    plt = pyplot()
    if plt is None:
        return
    rows = summary["results"]
    envs = sorted({r["env"] for r in rows}, key=lambda e: (_ORDER.get(short_name(e), 99), e))
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    width = 0.8 / max(1, len(policies))
    figure, axis = plt.subplots(figsize=(max(5, 1.6 * len(envs) + 2), 3.5))
    for k, policy in enumerate(policies):
        by_env = {r["env"]: r.get("em", 0.0) for r in rows if r["policy"] == policy}
        axis.bar([i + k * width for i in range(len(envs))], [by_env.get(e, 0.0) for e in envs], width, label=policy)
    axis.set_xticks([i + width * (len(policies) - 1) / 2 for i in range(len(envs))], [short_name(e) for e in envs])
    axis.set_ylabel("exact match")
    axis.legend(fontsize=7)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "em.png", dpi=120)
    plt.close(figure)

"""A run's metrics as JSON Lines, and its training curve as a PNG.

Each line is one record: {"step": N, "train": {...}} from the trainer's logs,
{"step": N, "eval": {...}} from a held-out evaluation (its metrics averaged over the
held-out envs, and each env's under "envs"), or {"step": N,
"task_ids": {"train" or "eval": [...]}}, the tasks of a step's training episodes
or of an evaluation. A resumed run first drops
the records written after its checkpoint, so the file never holds a step twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agent_r1.trainer.plotting import pyplot


class MetricsLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, step: int, kind: str, values: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, kind: values}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
        return records

    def truncate_after(self, step: int) -> None:
        kept = [r for r in self.records() if r["step"] <= step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(tmp, self.path)

    def evals(self) -> list[tuple[int, dict[str, Any]]]:
        return [(r["step"], r["eval"]) for r in self.records() if "eval" in r]

    def task_ids(self, kind: str) -> list[str]:
        """Every task id of `kind` ("train" or "eval") recorded so far ({"step": N, "task_ids": {kind: [...]}}
        lines), once each, in the order first recorded."""
        return list(dict.fromkeys(i for r in self.records() if "task_ids" in r for i in r["task_ids"].get(kind, [])))


def plot_curve(log: MetricsLog, path: str | Path, title: str) -> Path | None:
    """Training reward and held-out EM against steps; None when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return None
    train = [(r["step"], r["train"]) for r in log.records() if "train" in r and "reward" in r["train"]]
    evals = log.evals()
    figure, axis = plt.subplots(figsize=(6, 3.5))
    if train:
        axis.plot([s for s, _ in train], [t["reward"] for _, t in train], alpha=0.5, label="training return (sampled)")
        if "episode/em" in train[0][1]:
            axis.plot([s for s, _ in train], [t["episode/em"] for _, t in train], alpha=0.5, label="training EM (sampled)")
    envs = list(evals[-1][1].get("envs", {})) if evals else []
    if len(envs) > 1:  # each held-out env's EM; the mean is the summary's
        for env_id in envs:
            points = [(s, e["envs"][env_id]["em"]) for s, e in evals if env_id in e.get("envs", {})]
            axis.plot([s for s, _ in points], [v for _, v in points], "o-", label=f"held-out EM, {env_id} (greedy)")
    elif evals:
        axis.plot([s for s, _ in evals], [e["em"] for _, e in evals], "o-", label="held-out EM (greedy)")
    axis.set_xlabel("step")
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)

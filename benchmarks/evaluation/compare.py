"""Two benchmark folders side by side: per-dataset differences with a paired bootstrap interval.

Episodes are paired by (env, episode index): both folders answered the same
questions, so the interval reflects the difference between the agents, not
between question samples.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from agent_r1.benchmarks.evaluation.harness import read_episodes
from agent_r1.benchmarks.evaluation.reference import short_name


def _by_key(folder: Path) -> dict[tuple[str, str], dict[int, dict]]:
    files = sorted((Path(folder) / "episodes").glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{folder} holds no benchmark episodes (episodes/*.jsonl)")
    table: dict[tuple[str, str], dict[int, dict]] = {}
    for path in files:
        for episode in read_episodes(path):
            table.setdefault((episode["policy"], episode["env"]), {})[episode["index"]] = episode
    return table


def paired_bootstrap(differences: list[float], *, samples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """The `level` percentile interval of the mean of `differences`, resampled with replacement."""
    rng = random.Random(seed)
    n = len(differences)
    means = sorted(sum(differences[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    tail = (1 - level) / 2
    return means[int(tail * (samples - 1))], means[int((1 - tail) * (samples - 1))]


def compare(a: Path, b: Path, *, metric: str = "em") -> list[dict[str, Any]]:
    """One row per env (and policy pair) present in both folders: A, B, B - A and its 95% interval."""
    left, right = _by_key(a), _by_key(b)
    left_policies = sorted({p for p, _ in left})
    right_policies = sorted({p for p, _ in right})
    if set(left_policies) & set(right_policies):
        pairs = [(p, p) for p in left_policies if p in right_policies]
    elif len(left_policies) == 1 and len(right_policies) == 1:
        pairs = [(left_policies[0], right_policies[0])]
    else:
        raise ValueError(f"cannot pair the policies of {a} ({', '.join(left_policies)}) with those of {b} "
                         f"({', '.join(right_policies)}): give folders with the same policies, or one policy each")
    rows = []
    for policy_a, policy_b in pairs:
        for env in sorted({e for p, e in left if p == policy_a} & {e for p, e in right if p == policy_b}):
            x, y = left[policy_a, env], right[policy_b, env]
            common = sorted(set(x) & set(y))
            if not common:
                continue
            diffs = [float(y[i]["metrics"][metric]) - float(x[i]["metrics"][metric]) for i in common]
            low, high = paired_bootstrap(diffs)
            rows.append({
                "env": env, "policy_a": policy_a, "policy_b": policy_b, "episodes": len(common),
                "a": sum(float(x[i]["metrics"][metric]) for i in common) / len(common),
                "b": sum(float(y[i]["metrics"][metric]) for i in common) / len(common),
                "difference": sum(diffs) / len(diffs), "ci_low": low, "ci_high": high,
            })
    if not rows:
        raise ValueError(f"{a} and {b} share no episodes of the same env")
    return rows


def format_comparison(rows: list[dict[str, Any]], metric: str = "em") -> str:
    lines = [f"| env | A | B | episodes | {metric} A | {metric} B | B - A | 95% CI |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {short_name(r['env'])} | {r['policy_a']} | {r['policy_b']} | {r['episodes']} | {r['a']:.3f} | "
                     f"{r['b']:.3f} | {r['difference']:+.3f} | [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] |")
    return "\n".join(lines)

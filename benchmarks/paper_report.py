"""The report of `paper_table`: EM and F1 with bootstrap intervals, paired differences, curves.

Every system answered the same questions, so differences are paired by
(dataset, question): the interval of a difference reflects the agents, not
which questions were drawn. Intervals are 95% percentile bootstraps (2,000
resamples of the questions). The published rows are the paper's own
(Qwen2.5-3B-Instruct, full dev sets), shown for scale and labelled so.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any, NamedTuple

from agent_r1.benchmarks.evaluation.compare import paired_bootstrap
from agent_r1.benchmarks.evaluation.harness import read_episodes
from agent_r1.benchmarks.evaluation.reference import PAPER_EM, short_name
from agent_r1.trainer.plotting import pyplot
from agent_r1.trainer.run_log import MetricsLog
from agent_r1.envs.registration import DATASET_ENV_IDS

ENVS = tuple(DATASET_ENV_IDS.values())
ALGORITHM_LABELS = {"grpo": "GRPO", "ppo": "PPO", "rloo": "RLOO", "reinforce_pp": "REINFORCE++"}
SCORES = "scores.jsonl"
ORDER = ("Naive RAG", "Base Tool Call", "Warm start", "PPO", "GRPO", "REINFORCE++", "RLOO")
WARM_START = "Warm start"
KEPT_WARM_START = "warm-start-"  # KEPT/warm-start-ID/ holds the files of warm start ID and of the runs from it


def order_key(system: str) -> tuple[int, str]:
    """The report's order of systems: ORDER by the name before any "(preset)" or "[warm start]", then by name."""
    base = re.split(r" [(\[]", system)[0]
    return ORDER.index(base) if base in ORDER else len(ORDER), system


def fingerprint(folder: Path) -> str:
    """sha256 over a run's weight files: whether a warm start made again on a fresh machine came out the same."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def warm_start_id(policy: str, out: Path) -> str | None:
    """The first 12 hex digits of the fingerprint of the warm start OUT's POLICY began from (its own, for the warm
    start; a run's copy of it, for a run), or None: a baseline, an agent from elsewhere, weights that are gone.
    The same seed on another CPU makes other bits (its float kernels round differently), and a run is paired only
    with the warm start it began from."""
    path = Path(policy[len("agent ("):-1]) if policy.startswith("agent (") else None
    if path is None or path.parent != out:
        return None
    folder = path if path.name == "warm_start" else path / "warm_start"
    return fingerprint(folder)[:12] if any(folder.glob("*.safetensors")) else None


def label(policy: str, out: Path) -> str:
    """The table's name of a bench policy: Naive RAG, Base Tool Call, Warm start, GRPO, ..., or the policy itself."""
    return _label(_precision(policy)[0], out)


def _precision(policy: str) -> tuple[str, str]:
    """(the policy without its sampler, the sampler): a bench names a policy that did not sample itself in float32
    "NAME [DTYPE]" or "NAME [BACKEND DTYPE]" (agents.sampler_tag)."""
    name, _, dtype = policy.partition(" [")
    return name, dtype.rstrip("]") or "float32"


def _label(policy: str, out: Path) -> str:
    if policy.startswith("naive-rag"):
        return "Naive RAG"
    if policy.startswith("base-tool-call"):
        return "Base Tool Call"
    path = Path(policy[len("agent ("):-1]) if policy.startswith("agent (") else None
    if path is not None and path.parent == out:
        if path.name == "warm_start":
            return "Warm start"
        algo, _, preset = path.name.rpartition("-")
        name = ALGORITHM_LABELS.get(algo, algo)
        return name if preset == "outcome" else f"{name} ({preset} reward)"
    return policy


def kept_records(kept: Path) -> list[dict[str, Any]]:
    """KEPT's scores (see `keep`): {"system", "precision", "env", "index", "em", "f1"} per question, and
    "warm_start" (warm_start_id) for the warm start and the runs that began from it."""
    path = kept / SCORES
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def _records(out: Path, kept: Path | None) -> list[dict[str, Any]]:
    """Every score: the kept ones first, then OUT's episodes, which replace those of the same _key."""
    records = kept_records(kept) if kept is not None else []
    starts: dict[str, str | None] = {}  # a policy's warm start, read once: its weights are hashed
    for path in sorted((out / "bench" / "episodes").glob("*.jsonl")):
        for episode in read_episodes(path):
            name, dtype = _precision(episode["policy"])
            start = starts[name] if name in starts else starts.setdefault(name, warm_start_id(name, out))
            records.append({"system": _label(name, out), "precision": dtype, **({"warm_start": start} if start else {}),
                            "env": episode["env"], "index": episode["index"],
                            **{k: float(episode["metrics"][k]) for k in ("em", "f1")}})
    return records


def _key(record: dict[str, Any]) -> tuple[str, str, str, int]:
    """A score's identity: a later record of the same key replaces an earlier one (OUT's episodes the kept)."""
    return record["system"], record.get("warm_start") or "", record["env"], record["index"]


class Scores(NamedTuple):
    table: dict[str, dict[str, dict[int, dict[str, float]]]]  # system -> env -> question index -> {"em", "f1"}
    precision: dict[str, str]  # system -> the sampler it ran with
    warm_start: dict[str, str | None]  # system -> the warm start it is or began from (warm_start_id)


def scores(out: Path, kept: Path | None = None) -> Scores:
    """Every system's scores, from OUT/bench/episodes and the scores kept in KEPT. A system measured from two warm
    starts (made on two machines) is two systems, "NAME [ID]" each. A system benched in two precisions is an error:
    its episodes would be mixed."""
    records = _records(out, kept)
    starts: dict[str, set[str | None]] = {}
    for record in records:
        starts.setdefault(record["system"], set()).add(record.get("warm_start"))
    result = Scores({}, {}, {})
    for record in records:
        name, dtype, start = record["system"], record["precision"], record.get("warm_start")
        name = f"{name} [{start or 'unknown'}]" if len(starts[name]) > 1 else name
        if result.precision.setdefault(name, dtype) != dtype:
            raise ValueError(f"{out / 'bench'} holds {name} in {result.precision[name]} and in {dtype}: keep one")
        result.warm_start[name] = start
        result.table.setdefault(name, {}).setdefault(record["env"], {})[record["index"]] = \
            {k: record[k] for k in ("em", "f1")}
    return result


def keep(out: Path, kept: Path) -> None:
    """Copy into KEPT what a later run on a fresh machine needs to continue OUT's table: every system's score on
    every question (SCORES, a line each), each training run's metrics and summary, and the warm start's losses and
    tasks. Weights stay out: they are large, and a run is made again from its seed (the warm start's fingerprint
    tells whether it came out the same). The files of a warm start, and of each run that began from it, go under
    KEPT/warm-start-ID/ (warm_start_id): one made again elsewhere is kept beside the first, not over it."""
    kept.mkdir(parents=True, exist_ok=True)
    latest = {_key(r): r for r in _records(out, kept)}
    lines = [json.dumps(latest[key]) for key in sorted(latest)]
    (kept / SCORES).write_text("\n".join(lines) + "\n" if lines else "")
    warm_start = out / "warm_start"
    files = [(run, start, ("metrics.jsonl", "summary.json")) for (_, start), run in _runs(out).items()]
    for run, start, names in [*files, (warm_start, warm_start_id(f"agent ({warm_start})", out),
                                       ("losses.json", "cost.json", "task_ids.json"))]:
        folder = kept / f"{KEPT_WARM_START}{start}" / run.name if start else kept / run.name
        for name in names:
            if (run / name).is_file():
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(run / name, folder / name)


def _cell(values: list[float]) -> dict[str, float]:
    low, high = paired_bootstrap(values)
    return {"mean": sum(values) / len(values), "low": low, "high": high, "n": len(values)}


def summarize(out: Path, kept: Path | None = None) -> dict[str, Any]:
    table, precision, starts = scores(out, kept)
    systems = sorted(table, key=order_key)
    result: dict[str, Any] = {"systems": {}, "differences": [], "precision": precision}
    for system in systems:
        result["systems"][system] = {
            env: {metric: _cell([q[metric] for q in table[system][env].values()]) for metric in ("em", "f1")}
            for env in ENVS if table[system].get(env)
        }
    warm_starts = {starts[s]: s for s in systems if order_key(s)[0] == ORDER.index(WARM_START)}
    for system in systems:
        if order_key(system)[0] < ORDER.index(WARM_START):  # the baselines
            continue
        # A run is paired with the warm start it began from, never with one made elsewhere.
        own = warm_starts.get(starts[system]) if system not in warm_starts.values() else None
        for reference in [r for r in (own, "Naive RAG") if r in table]:
            for env in ENVS:
                mine, theirs = table[system].get(env, {}), table[reference].get(env, {})
                common = sorted(set(mine) & set(theirs))
                if common:
                    diffs = [mine[i]["em"] - theirs[i]["em"] for i in common]
                    low, high = paired_bootstrap(diffs)
                    result["differences"].append({"system": system, "reference": reference, "env": env, "n": len(common),
                                                  "difference": sum(diffs) / len(diffs), "low": low, "high": high})
    return result


def _table(summary: dict[str, Any], metric: str) -> str:
    names = [short_name(e) for e in ENVS]
    lines = ["| method | " + " | ".join(names) + " | average |", "|---" * (len(names) + 2) + "|"]
    if metric == "em":
        for method, values in PAPER_EM.items():
            cells = [values[n] for n in names]
            lines.append(f"| {method} (published, Qwen2.5-3B) | " + " | ".join(f"{c:.3f}" for c in cells)
                         + f" | {sum(cells) / len(cells):.3f} |")
    for system, by_env in summary["systems"].items():
        cells = [by_env.get(env, {}).get(metric) for env in ENVS]
        text = [f"{c['mean']:.3f} [{c['low']:.3f}, {c['high']:.3f}] (n={c['n']})" if c else "-" for c in cells]
        average = f"{sum(c['mean'] for c in cells) / len(cells):.3f}" if all(cells) else "-"
        model = "SmolLM2-135M, " if order_key(system)[0] < len(ORDER) else ""
        lines.append(f"| {system} ({model}measured) | " + " | ".join(text) + f" | {average} |")
    return "\n".join(lines)


def _differences(summary: dict[str, Any]) -> str:
    lines = ["| system | minus | dataset | questions | EM difference | 95% paired CI |", "|---|---|---|---|---|---|"]
    for d in summary["differences"]:
        lines.append(f"| {d['system']} | {d['reference']} | {short_name(d['env'])} | {d['n']} | {d['difference']:+.3f} | "
                     f"[{d['low']:+.3f}, {d['high']:+.3f}] |")
    return "\n".join(lines)


def _runs(out: Path, kept: Path | None = None) -> dict[tuple[str, str], Path]:
    """(a training run's name, the id of the warm start it began from, or "") -> its folder: OUT's runs and KEPT's
    (see `keep`), OUT's where both hold the same run."""
    runs: dict[tuple[str, str], Path] = {}
    if kept is not None:
        runs.update({(p.parent.name, ""): p.parent for p in kept.glob("*/metrics.jsonl")})
        runs.update({(p.parent.name, p.parent.parent.name[len(KEPT_WARM_START):]): p.parent
                     for p in kept.glob(f"{KEPT_WARM_START}*/*/metrics.jsonl")})
    runs.update({(p.parent.name, warm_start_id(f"agent ({p.parent})", out) or ""): p.parent
                 for p in out.glob("*/metrics.jsonl")})
    return dict(sorted(runs.items()))


def _curves(out: Path, kept: Path | None = None) -> Path | None:
    """Held-out EM during training (the trainer's own evaluation: the first dev questions of each training
    dataset) of every run in OUT or KEPT, one panel per dataset."""
    plt = pyplot()
    runs = _runs(out, kept)
    if plt is None or not runs:
        return None
    envs = [e for e in ENVS if any(e in ev.get("envs", {}) for run in runs.values()
                                   for _, ev in MetricsLog(run / "metrics.jsonl").evals())]
    figure, axes = plt.subplots(1, max(1, len(envs)), figsize=(5 * max(1, len(envs)), 3.5), squeeze=False)
    for axis, env in zip(axes[0], envs):
        for (name, start), run in runs.items():
            points = [(s, e["envs"][env]["em"]) for s, e in MetricsLog(run / "metrics.jsonl").evals() if env in e.get("envs", {})]
            twice = sum(n == name for n, _ in runs) > 1  # named as the table names it: "NAME [ID]"
            axis.plot([s for s, _ in points], [v for _, v in points], "o-",
                      label=label(f"agent ({out / name})", out) + (f" [{start or 'unknown'}]" if twice else ""))
        axis.set_title(f"held-out EM during training, {short_name(env)}", fontsize=9)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "curves.png", dpi=120)
    plt.close(figure)
    return out / "curves.png"


def write_report(out: Path, kept: Path | None = None) -> dict[str, Any]:
    """OUT/results.md and OUT/results.json from what OUT (and KEPT, see `keep`) holds now, and OUT/curves.png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(out, kept)
    curves = _curves(out, kept)
    precisions = sorted(set(summary["precision"].values()))
    note = (f"Every measured system ran in {precisions[0]}." if len(precisions) == 1 else
            "Precision: " + ", ".join(f"{s} {d}" for s, d in summary["precision"].items()) + "." if precisions else
            "No system has been measured yet.")
    text = (f"{note}\n\n## Exact match (95% bootstrap interval, questions)\n\n{_table(summary, 'em')}\n\n"
            f"## F1\n\n{_table(summary, 'f1')}\n\n"
            f"## Paired differences in EM\n\n{_differences(summary)}\n"
            + (f"\n![held-out EM during training]({curves.name})\n" if curves else ""))
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":  # python -m agent_r1.benchmarks.paper_report OUT [KEPT]: the report again
    import sys

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/paper")
    write_report(folder, Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    print((folder / "results.md").read_text())

"""Algorithms and reward presets compared at equal budget, from one shared warm start.

    python -m agent_r1.benchmarks.train_compare --out runs/compare [--max-steps 10] \
        [--runs grpo:outcome,grpo:process,turn_level:process,ppo:outcome,rloo:outcome,reinforce_pp:outcome]

The warm start is trained once (in OUT/warm_start) and copied into every run,
so each algorithm starts from the same weights and sees the same training
seeds; each run is `agent-r1 train` with the same steps, batch and evaluation
seeds. Writes OUT/compare.md (a Markdown table) and OUT/compare.png. Finished
runs are skipped when the script is started again.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

from agent_r1.trainer.plotting import pyplot
from agent_r1.trainer.run_log import MetricsLog
from agent_r1.trainer.train import train
from agent_r1.trainer.train_config import TrainConfig
from agent_r1.tools.paths import RunFolder

DEFAULT_RUNS = "grpo:outcome,grpo:process,turn_level:process,ppo:outcome,rloo:outcome,reinforce_pp:outcome"


def _median_step_seconds(run_dir: Path) -> float:
    """The median step time: unlike the run's total, it is not inflated by a pause or by other work for a while."""
    times = sorted(r["train"]["step_time"] for r in MetricsLog(RunFolder(run_dir).metrics).records()
                   if "train" in r and "step_time" in r["train"])
    return times[len(times) // 2] if times else float("nan")


def _table(summaries: list[dict]) -> str:
    lines = ["| algorithm | reward | steps | EM before | EM after | change | F1 after | median step (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        lines.append(f"| {s['algo']} | {s['reward_preset']} | {s['steps']} | {s['em_before']:.3f} | {s['em_after']:.3f} | "
                     f"{s['em_after'] - s['em_before']:+.3f} | {s['f1_after']:.3f} | {_median_step_seconds(Path(s['metrics']).parent):.0f} |")
    return "\n".join(lines)


def _plot(out: Path, names: list[str], summaries: list[dict]) -> Path | None:
    """Held-out EM after each run against the shared start (left) and each run's sampled training return (right)."""
    plt = pyplot()
    if plt is None:
        return None
    figure, (em_axis, return_axis) = plt.subplots(1, 2, figsize=(10, 3.8))
    em_axis.bar(range(len(names)), [s["em_after"] for s in summaries], color="tab:blue")
    if summaries:
        em_axis.axhline(summaries[0]["em_before"], color="black", linestyle="--", linewidth=1, label="before RL")
        em_axis.legend(fontsize=7)
    em_axis.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
    em_axis.set_ylabel(f"held-out EM ({summaries[0]['eval_episodes'] if summaries else 0} episodes)")
    for name in names:
        train_records = [(r["step"], r["train"]["reward"]) for r in MetricsLog(out / name / "metrics.jsonl").records()
                         if "train" in r and "reward" in r["train"]]
        if train_records:
            return_axis.plot([s for s, _ in train_records], [v for _, v in train_records], label=name)
    return_axis.set_xlabel("step")
    return_axis.set_ylabel("training return (sampled)")
    return_axis.grid(alpha=0.3)
    return_axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "compare.png", dpi=120)
    plt.close(figure)
    return out / "compare.png"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/compare")
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="comma-separated ALGO:PRESET pairs")
    parser.add_argument("--config", help="a JSON or TOML file of shared TrainConfig settings")
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--warm-start", type=int, default=192)
    parser.add_argument("--eval-episodes", type=int, default=100)
    args = parser.parse_args(argv)

    out = Path(args.out)
    base = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    base = replace(base, max_steps=args.max_steps, eval_episodes=args.eval_episodes, eval_every=0,
                   warm_start=replace(base.warm_start, episodes=args.warm_start))
    pairs = [tuple(item.split(":")) for item in args.runs.split(",")]
    for pair in pairs:
        if len(pair) != 2:
            raise SystemExit(f"error: --runs takes ALGO:PRESET pairs, got {':'.join(pair)!r}")
    shared_warm_start = out / "warm_start"
    shared_eval = out / "initial_eval.json"
    summaries = []
    for algo, preset in pairs:
        name = f"{algo}-{preset}"
        run_dir = out / name
        if RunFolder(run_dir).summary.exists():
            summaries.append(json.loads(RunFolder(run_dir).summary.read_text()))
            continue
        config = replace(base, algo=algo, reward_preset=preset, output_dir=str(run_dir))
        resume = RunFolder(run_dir).config.exists()
        if args.warm_start and shared_warm_start.exists() and not RunFolder(run_dir).warm_start.exists():
            run_dir.mkdir(parents=True, exist_ok=True)
            shutil.copytree(shared_warm_start, RunFolder(run_dir).warm_start)
        # Every run starts from the same weights and is evaluated on the same seeds: evaluate them once.
        initial = json.loads(shared_eval.read_text()) if shared_eval.exists() else None
        summary = train(config, resume=resume, initial_eval=initial)
        if args.warm_start and not shared_warm_start.exists():
            shutil.copytree(RunFolder(run_dir).warm_start, shared_warm_start)
        if not shared_eval.exists():
            shared_eval.write_text(json.dumps(dict(MetricsLog(RunFolder(run_dir).metrics).evals())[0]))
        summaries.append(summary)
        print(_table(summaries[-1:]).splitlines()[-1], flush=True)
    table = _table(summaries)
    (out / "compare.md").write_text(table + "\n")
    print(table)
    _plot(out, [f"{a}-{p}" for a, p in pairs], summaries)
    return summaries


if __name__ == "__main__":
    main()

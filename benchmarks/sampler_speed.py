"""The rollouts' sampler, compared on one training run: the policy itself through transformers (float32) against a
vLLM engine colocated in the training process, in float32 and in bfloat16.

    python -m agent_r1.benchmarks.sampler_speed --out runs/sampler_speed [--steps 4] [--warm-start 64] [--model M]

Every sampler runs `agent-r1 train` in a process of its own (vLLM's engine lives in the training process), with the
same steps, batch and seeds, from one warm start (trained by the first run, copied into the others). Writes
OUT/sampler_speed.md: per sampler, the median step and its parts, how far the sampled tokens' log-probs are from
the policy's (what the importance-sampling correction makes up for), and the return. Finished runs are kept when
the script is started again; run it alone on the machine.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from agent_r1.benchmarks.train_runs import chosen, median, report, step_records, train_run
from agent_r1.tools.paths import DEFAULT_MODEL

SAMPLERS = {  # name -> train options
    "transformers": ["--backend", "transformers"],
    "vllm-float32": ["--backend", "vllm", "--rollout-dtype", "float32"],
    "vllm-bfloat16": ["--backend", "vllm", "--rollout-dtype", "bfloat16"],
}
PARTS = ("weight_sync", "rollout_generate", "score", "forward", "backward", "optimizer")


def row(run_dir: Path) -> dict[str, float]:
    steps = step_records(run_dir)
    result = {part: median(steps, f"time/{part}") for part in PARTS} | {"total": median(steps, "time/total")}
    result["logp_diff_mean"] = median(steps, "sampling/sampling_logp_difference/mean")
    result["logp_diff_max"] = max(s.get("sampling/sampling_logp_difference/max", 0.0) for s in steps)
    result["ratio_min"] = min(s.get("sampling/importance_sampling_ratio/min", 1.0) for s in steps)
    result["ratio_max"] = max(s.get("sampling/importance_sampling_ratio/max", 1.0) for s in steps)
    result["return"] = statistics.mean(s["reward"] for s in steps)
    result["steps"] = len(steps)
    return result


def table(rows: dict[str, dict[str, float]]) -> str:
    base = rows.get("transformers", {}).get("total")
    lines = ["| sampler | median step (s) | vs transformers | " + " | ".join(PARTS) + " | logp diff mean / max | "
             "IS ratio min / max | return |", "|---" * (len(PARTS) + 6) + "|"]
    for name, r in rows.items():
        speed = f"{base / r['total']:.2f}x" if base else ""
        lines.append(f"| {name} | {r['total']:.1f} | {speed} | " + " | ".join(f"{r[p]:.1f}" for p in PARTS)
                     + f" | {r['logp_diff_mean']:.2g} / {r['logp_diff_max']:.2g} | {r['ratio_min']:.2f} / "
                     f"{r['ratio_max']:.2f} | {r['return']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/sampler_speed"))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warm-start", type=int, default=64, help="oracle episodes of the shared warm start")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated: " + ", ".join(SAMPLERS))
    args = parser.parse_args(argv)
    names = chosen(parser, args.samplers, SAMPLERS, "sampler")
    rows = {name: row(train_run(args.out, name, SAMPLERS[name], steps=args.steps, warm_start=args.warm_start,
                                model=args.model)) for name in names}
    return report(args.out, "sampler_speed", rows, table(rows))

if __name__ == "__main__":
    main()

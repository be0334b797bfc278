"""The loss and backward pass of a training step: agent-r1's micro-batches against TRL's, on the same batches.

    python -m agent_r1.benchmarks.step_speed [--warm-start runs/paper/warm_start] [--batches 3]

The paper experiment's setting (benchmarks/paper_table.py): the default model with its LoRA adapter (optionally
the experiment's warm start, whose groups are the ones that earn rewards), 4 questions x 4 episodes of the
HotpotQA + 2Wiki training mixture, micro-batches of 4. For each of `--batches` generation batches, rolled out and
scored once, side by side:
  (a) TRL: the batch shuffled and cut into equal slices, GRPOTrainer.compute_loss and backward on every slice;
  (b) agent-r1: trainer/micro_batches.py's slices (zero-advantage rows skipped, padding trimmed),
      AgentTrainer.compute_loss and backward.
Both accumulate the same gradient (tests/test_micro_batches.py); reported: seconds of each, their ratio, and the
share of rows with zero advantage. The rollout that made each batch is timed too, for scale.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
from dataclasses import replace
import time
from pathlib import Path

from agent_r1.benchmarks.child_process import LOG_FORMAT
from agent_r1.benchmarks.paper_table import training_config
from agent_r1.trainer.micro_batches import micro_batches, zero_advantage_rows
from agent_r1.trainer.rollout.models import LoraSpec, load_model

logger = logging.getLogger(__name__)


def _gradient_seconds(trainer, chunks, loss) -> float:
    trainer.model.zero_grad()
    started = time.perf_counter()
    for chunk in chunks:
        loss(trainer.model, chunk).backward()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"),
                        help="the folder of the shared samples (default: %(default)s)")
    parser.add_argument("--model", help="the policy (default: the experiment's, the embedded default model)")
    parser.add_argument("--warm-start", type=Path, help="a warm start's adapter folder to load (default: none)")
    parser.add_argument("--batches", type=int, default=3, help="generation batches to measure")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)

    with tempfile.TemporaryDirectory(prefix="step_speed-") as scratch:  # TRL wants an output folder; nothing is saved
        config = training_config(args.data, Path(scratch), "grpo", "outcome")
        rows = _measure(args, replace(config, model=args.model) if args.model else config)
    result = {"batches": rows, "median_speedup": statistics.median(r["trl_seconds"] / r["agent_r1_seconds"] for r in rows)}
    print("| batch | rows with zero advantage | tokens (padded) | rollout s | TRL loss+backward s | agent-r1 s | TRL / agent-r1 |")
    print("|---|---|---|---|---|---|---|")
    for index, r in enumerate(rows):
        print(f"| {index} | {r['zero_advantage_rows']:.0%} | {r['tokens']} ({r['padded_tokens']}) | {r['rollout_seconds']:.0f} "
              f"| {r['trl_seconds']:.1f} | {r['agent_r1_seconds']:.1f} | {r['trl_seconds'] / r['agent_r1_seconds']:.2f}x |")
    print(f"median speed-up of the loss and backward pass: {result['median_speedup']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


def _measure(args, config) -> list[dict]:
    from trl import GRPOTrainer
    from trl.trainer.utils import shuffle_sequence_dict, split_tensor_dict

    from agent_r1.trainer.agent_trainer import AgentTrainer
    from agent_r1.trainer.splits import rollout_env
    from agent_r1.trainer.train import _grpo_args, _load_weights

    model, tokenizer = load_model(config.model, lora=LoraSpec(r=config.lora_r, alpha=config.lora_alpha))
    if args.warm_start:
        _load_weights(model, args.warm_start)
    env_id, env_kwargs = rollout_env(config)
    rollout = config.rollout.engine()
    trainer = AgentTrainer(model, tokenizer, env_id, [0], _grpo_args(config, Path(config.output_dir)), env_kwargs=env_kwargs,
                           rollout=rollout)
    slices = config.episodes_per_step // config.micro_batch_size
    trainer.current_gradient_accumulation_steps = slices  # set by the training loop before each step
    rows = []
    for index in range(args.batches):
        seeds = [seed for seed in range(index * config.groups_per_step, (index + 1) * config.groups_per_step)
                 for _ in range(config.group_size)]
        trainer.model.train()
        started = time.perf_counter()
        batch = trainer._generate_and_score_completions([{"prompt": f"seed={seed}"} for seed in seeds])
        rollout_seconds = time.perf_counter() - started
        measure = {
            "trl": lambda: _gradient_seconds(trainer, split_tensor_dict(shuffle_sequence_dict(batch), slices),
                                             lambda m, chunk: GRPOTrainer.compute_loss(trainer, m, chunk)),
            "ours": lambda: _gradient_seconds(trainer, micro_batches(batch, slices), trainer.compute_loss),
        }
        order = ["trl", "ours"] if index % 2 == 0 else ["ours", "trl"]  # neither always runs on a warm cache
        seconds = {name: measure[name]() for name in order}
        trl, ours = seconds["trl"], seconds["ours"]
        row = {"rollout_seconds": rollout_seconds, "trl_seconds": trl, "agent_r1_seconds": ours,
               "zero_advantage_rows": float(zero_advantage_rows(batch["advantages"]).float().mean()),
               "tokens": int(batch["prompt_mask"].sum() + batch["completion_mask"].sum()),
               "padded_tokens": int(batch["prompt_mask"].numel() + batch["completion_mask"].numel())}
        rows.append(row)
        logger.info("batch %d: %s", index, json.dumps({k: round(v, 3) for k, v in row.items()}))
    trainer.close()
    return rows


if __name__ == "__main__":
    main()

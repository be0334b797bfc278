"""`agent-r1 train` runs that benchmarks compare side by side: each in a process of its own (its peak memory is its
own, and vLLM's engine lives in the training process), from one warm start shared by copying."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from agent_r1.trainer.run_log import MetricsLog
from agent_r1.tools.paths import RunFolder


def train_run(out: Path, name: str, options: list[str], *, steps: int, warm_start: int, model: str,
              share_warm_start: bool = True) -> Path:
    """OUT/NAME, trained for `steps` with `options` unless it is finished already. The first run sharing the warm
    start trains it (OUT/warm_start keeps a copy); the others start from that copy."""
    run_dir, shared = out / name, out / "warm_start"
    if RunFolder(run_dir).summary.exists():
        return run_dir
    shutil.rmtree(run_dir, ignore_errors=True)
    if share_warm_start and shared.exists():
        shutil.copytree(shared, RunFolder(run_dir).warm_start)
    command = [sys.executable, "-m", "agent_r1.trainer.cli", "train", "--output-dir", str(run_dir),
               "--warm-start", str(warm_start), "--max-steps", str(steps), "--eval-episodes", "8", "--eval-every", "0",
               "--save-every", str(steps), "--model", model, *options]
    subprocess.run(command, check=True)
    if share_warm_start and not shared.exists():
        shutil.copytree(RunFolder(run_dir).warm_start, shared)
    return run_dir


def step_records(run_dir: Path) -> list[dict]:
    """The run's training-step records (metrics.jsonl), in order."""
    return [r["train"] for r in MetricsLog(RunFolder(run_dir).metrics).records()
            if isinstance(r.get("train"), dict) and "loss" in r["train"]]


def median(steps: list[dict], key: str) -> float:
    return statistics.median(s.get(key, 0.0) for s in steps)


def chosen(parser: argparse.ArgumentParser, text: str, known, what: str) -> list[str]:
    """The comma-separated names of `text`, each one of `known` (else the parser's error)."""
    names = [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown {what}(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return names


def report(out: Path, stem: str, rows: dict[str, dict[str, float]], text: str) -> dict[str, dict[str, float]]:
    """Writes OUT/STEM.md (the table) and OUT/STEM.json (the rows), prints the table, returns the rows."""
    (out / f"{stem}.md").write_text(text + "\n")
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=1))
    print(text)
    return rows

"""The search tool under load: many env workers searching one shared index at once.

    python -m agent_r1.benchmarks.search_load --data ../shared/data/hotpotqa/dev_distractor_500.jsonl \
        [--workers 64] [--seconds 60]

Every worker thread owns a HotpotQA env in the pooled setting (one BM25 index
over every paragraph of the file, built once and shared by all envs of the
process) and loops: reset to a question, search it, search the first gold
title, answer. Reports env steps per second, search latency percentiles and
errors, next to one worker alone (the baseline, measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import gymnasium as gym

import agent_r1.envs  # noqa: F401
from agent_r1.benchmarks.load import percentile_ms, run_threads
from agent_r1.envs.registration import DATASET_ENV_IDS


def _worker(env: gym.Env, seed: int, stop: threading.Event, latencies: list[float], errors: list[str], steps: list[int]) -> None:
    episode = seed
    while not stop.is_set():
        try:
            _, info = env.reset(seed=episode)
            for action in (f"<search> {info['question']} </search>", env.unwrapped.oracle_action(), "<answer> x </answer>"):
                started = time.perf_counter()
                _, _, terminated, truncated, step_info = env.step(action)
                if "<search>" in action:
                    latencies.append(time.perf_counter() - started)
                    if step_info["tool_result"] is None or not step_info["tool_result"].ok:
                        errors.append(f"search failed: {step_info['tool_result']}")
                steps[0] += 1
                if terminated or truncated:
                    break
        except Exception as exc:  # noqa: BLE001 - a benchmark counts every failure
            errors.append(repr(exc))
        episode += 1000


def run(data: str, workers: int, seconds: float) -> dict:
    envs = [gym.make(DATASET_ENV_IDS["hotpotqa"], data_path=data, max_turns=6) for _ in range(workers)]
    envs[0].reset(seed=0)  # builds the shared index before the clock starts
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    counts = [[0] for _ in envs]
    elapsed = run_threads(lambda i: _worker(envs[i], i, stop, latencies, errors, counts[i]), workers, seconds, stop)
    latencies.sort()

    return {"workers": workers, "seconds": elapsed, "searches": len(latencies), "steps": sum(c[0] for c in counts),
            "searches_per_second": len(latencies) / elapsed, "steps_per_second": sum(c[0] for c in counts) / elapsed,
            "p50_ms": percentile_ms(latencies, 0.5), "p99_ms": percentile_ms(latencies, 0.99),
            "max_ms": percentile_ms(latencies, 1.0),
            "errors": len(errors), "first_errors": errors[:3],
            "passages": len(envs[0].unwrapped.tools["search"].retriever.passages)
            if hasattr(envs[0].unwrapped.tools["search"].retriever, "passages") else None}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a HotpotQA file (JSON or JSON Lines)")
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json", help="write the numbers to this file")
    args = parser.parse_args(argv)
    baseline = run(args.data, 1, min(args.seconds, 10.0))
    loaded = run(args.data, args.workers, args.seconds)
    result = {"baseline": baseline, "loaded": loaded, "throughput_ratio": loaded["searches_per_second"] / baseline["searches_per_second"]}
    for name, r in (("1 worker", baseline), (f"{args.workers} workers", loaded)):
        print(f"{name:>11}: {r['searches_per_second']:8.1f} searches/s, {r['steps_per_second']:8.1f} env steps/s, "
              f"search p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.1f} ms, errors {r['errors']}")
    print(f"throughput with {args.workers} workers / 1 worker: {result['throughput_ratio']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()

"""vLLM's graph compilation on a CPU: what it costs at start-up against what it saves in generation.

    python -m agent_r1.benchmarks.vllm_compile [--model M] [--prompts 16] [--tokens 128] [--repeats 2]

Each variant starts its own engine in a process of its own, with an empty compile cache (what a fresh machine, or
a changed model, pays): eager (no compilation, agent-r1's default on a CPU) and compiled (vLLM's default, which
agent-r1 keeps on a GPU). Both then generate the same batch, sampled with a fixed seed; the script prints the
start-up and the generation time of each, and the ratio. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from agent_r1.tools.paths import DEFAULT_MODEL

VARIANTS = {"eager": True, "compiled": False}  # name -> enforce_eager


def measure(model: str, enforce_eager: bool, prompts: int, tokens: int, repeats: int) -> dict[str, float]:
    """In this process: start an engine, warm it on two prompts, then time `repeats` batches of `prompts`."""
    from agent_r1.trainer.rollout.generation import SamplingConfig
    from agent_r1.trainer.rollout.models import load_tokenizer, resolve_model
    from agent_r1.trainer.rollout.vllm_generator import VLLMGenerator

    path = resolve_model(model)
    started = time.perf_counter()
    generator = VLLMGenerator(path, max_model_len=2048, enforce_eager=enforce_eager)
    startup = time.perf_counter() - started
    tokenizer = load_tokenizer(path)
    batch = [tokenizer(f"Tell me about the sea, part {i}.")["input_ids"] for i in range(prompts)]
    config = SamplingConfig(max_new_tokens=tokens, ignore_eos=True, temperature=1.0)
    generator.generate(batch[:2], config)
    started = time.perf_counter()
    for _ in range(repeats):
        generator.generate(batch, config)
    return {"startup_s": startup, "generate_s": (time.perf_counter() - started) / repeats}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one variant, in this process
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(measure(args.model, VARIANTS[args.variant], args.prompts, args.tokens, args.repeats)))
        return 0
    results = {}
    for name in VARIANTS:
        with tempfile.TemporaryDirectory() as cache:  # nothing compiled before counts
            command = [sys.executable, "-m", "agent_r1.benchmarks.vllm_compile", "--variant", name, "--model", args.model,
                       "--prompts", str(args.prompts), "--tokens", str(args.tokens), "--repeats", str(args.repeats)]
            done = subprocess.run(command, capture_output=True, text=True, check=True,
                                  env={**os.environ, "VLLM_CACHE_ROOT": cache})
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    eager, compiled = results["eager"], results["compiled"]
    print(f"{args.prompts} prompts x {args.tokens} tokens, {args.model}")
    print("| variant | start-up | generation | tokens/s |\n|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['startup_s']:.1f} s | {r['generate_s']:.2f} s | {args.prompts * args.tokens / r['generate_s']:.0f} |")
    print(f"compiling costs {compiled['startup_s'] - eager['startup_s']:.1f} s at start-up and generates "
          f"{eager['generate_s'] / compiled['generate_s']:.2f}x as fast")
    return 0


if __name__ == "__main__":
    sys.exit(main())

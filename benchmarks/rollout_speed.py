"""Rollout throughput: the engine on multi-turn episodes against plain batched generation.

    python -m agent_r1.benchmarks.rollout_speed [--backend transformers|vllm] [--episodes 16]

Side by side in one process, with SmolLM2-135M-Instruct on SynthHop:
  (a) the engine: `--episodes` multi-turn episodes generated together;
  (b) one single-turn batched generation of the same tokens: the same batch,
      each row generating as many tokens as its episode did over all its turns;
  (b=) the same number of tokens spread evenly over the rows (the best case
      for plain generation, but out of any engine's reach when episodes differ
      in length: an episode's tokens are sampled one after another, so (a)
      needs as many decode passes as its longest episode has tokens);
  (c) the same episodes (same seeds) run one at a time through the engine.
Reported as generated tokens per second, and the ratios (a)/(b), (a)/(b=) and (a)/(c).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

from tqdm import tqdm

import agent_r1.envs  # noqa: F401
from agent_r1.trainer.rollout.backends import BACKENDS, make_generator
from agent_r1.trainer.rollout.generation import SamplingConfig
from agent_r1.trainer.rollout.engine import RolloutConfig, RolloutEngine
from agent_r1.tools.paths import DEFAULT_MODEL


def _forget(generator) -> None:
    """Empties the backend's prefix cache, so that each measurement reads its prompts itself."""
    if hasattr(generator, "llm"):
        generator.llm.reset_prefix_cache()
    elif hasattr(generator, "reset_cache"):
        generator.reset_cache()


class _ForwardTimer:
    """Times the model's forward passes by kind, prefill (several new tokens per row) or decode (one):
    where a measurement's seconds went. transformers backends only; hooks leave forward's signature alone."""

    def __init__(self, generator) -> None:
        self.model = getattr(generator, "model", None)
        self.totals = {"prefill": [0, 0.0, 0], "decode": [0, 0.0, 0]}  # passes, seconds, token slots (padding included)
        self._handles, self._started, self._shape = [], 0.0, None

    def __enter__(self) -> "_ForwardTimer":
        if self.model is not None:
            self._handles = [self.model.register_forward_pre_hook(self._before, with_kwargs=True),
                             self.model.register_forward_hook(self._after, with_kwargs=True)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()

    def _before(self, module, args, kwargs) -> None:
        self._shape = kwargs["input_ids"].shape
        self._started = time.perf_counter()

    def _after(self, module, args, kwargs, output) -> None:
        entry = self.totals["prefill" if self._shape[1] > 1 else "decode"]
        entry[0] += 1
        entry[1] += time.perf_counter() - self._started
        entry[2] += self._shape[0] * self._shape[1]

    def report(self, prefix: str) -> dict:
        if self.model is None:
            return {}
        return {f"{prefix}_{kind}_{name}": value for kind, values in self.totals.items()
                for name, value in zip(("passes", "seconds", "token_slots"), values)}


def _plain_batch(generator, prompts: list[list[int]], lengths: list[int]) -> float:
    """Seconds for one batched generation through the backend, exactly lengths[i] tokens for prompts[i]."""
    config = SamplingConfig(max_new_tokens=max(lengths), temperature=1.0, ignore_eos=True)
    start = time.perf_counter()
    if hasattr(generator, "generate"):
        samples = generator.generate(prompts, config, max_new_tokens=lengths)
    else:  # a continuous generator alone: all rows submitted at once
        for key, (prompt, length) in enumerate(zip(prompts, lengths)):
            generator.submit(key, prompt, length, config)
        samples = []
        while generator.busy:
            samples += [sample for _, sample in generator.step()]
    seconds = time.perf_counter() - start
    if sorted(len(s.token_ids) for s in samples) != sorted(lengths):
        raise RuntimeError("the plain batch did not generate the lengths it was asked for")
    return seconds


def _round(engine, generator, seeds: list[int]) -> dict:
    """(a), then (b) and (b=) on (a)'s prompts and lengths: one side-by-side comparison."""
    _forget(generator)
    with _ForwardTimer(generator) as engine_timer:
        start = time.perf_counter()
        trajectories = engine.rollout(seeds)
        engine_seconds = time.perf_counter() - start
    engine_tokens = sum(t.num_model_tokens for t in trajectories)
    result = {
        "a_engine_tokens": engine_tokens, "a_engine_seconds": engine_seconds, "a_tokens_per_s": engine_tokens / engine_seconds,
        "turns_per_episode": sum(len(t.turn_spans) for t in trajectories) / len(seeds),
        "a_observation_tokens": sum(len(t.response_ids) - t.num_model_tokens for t in trajectories),
        **engine_timer.report("a"),
    }
    prompts = [t.prompt_ids for t in trajectories]
    matched = [t.num_model_tokens for t in trajectories]
    even = [math.ceil(engine_tokens / len(seeds))] * len(seeds)
    for name, lengths in (("b", matched), ("b_equal", even)):
        _forget(generator)  # (a) read these prompts: (b) must read them too
        with _ForwardTimer(generator) as plain_timer:
            seconds = _plain_batch(generator, prompts, lengths)
        result.update({f"{name}_plain_tokens": sum(lengths), f"{name}_plain_seconds": seconds,
                       f"{name}_tokens_per_s": sum(lengths) / seconds, **plain_timer.report(name)})
        result[f"ratio_a_over_{name}"] = result["a_tokens_per_s"] / result[f"{name}_tokens_per_s"]
    # Decode passes cost about the same at any batch up to 16 here, so (b=) makes even[0] of them where (a) needs max(matched).
    result["longest_episode_tokens"] = max(matched)
    result["bound_a_over_b_equal"] = even[0] / max(matched)
    return result


def measure(backend: str, episodes: int, max_tokens_per_turn: int, env_id: str, seed: int, sequential: bool,
            continuous: bool = False, dtype: str = "float32", rounds: int = 3) -> dict:
    """The numbers of the median round by (a)/(b), with every round's ratios: one round can be
    off by 10 to 20% on a shared machine, and a round's three measurements run back to back."""
    generator, tokenizer = make_generator(DEFAULT_MODEL, backend, seed=seed, continuous=continuous, dtype=dtype)
    config = RolloutConfig(max_tokens_per_turn=max_tokens_per_turn, temperature=1.0)
    engine = RolloutEngine(generator, tokenizer, env_id, config=config)
    seeds = list(range(seed, seed + episodes))
    engine.rollout(seeds[:2])  # warm-up: first calls pay one-off costs
    results = [_round(engine, generator, seeds) for _ in tqdm(range(rounds), desc="rounds", unit="round", leave=False)]
    result = sorted(results, key=lambda r: r["ratio_a_over_b"])[(rounds - 1) // 2]
    result = {"backend": backend, "continuous": continuous, "dtype": dtype, "env": env_id, "episodes": episodes,
              "max_tokens_per_turn": max_tokens_per_turn, "rounds": rounds, **result,
              "rounds_a_tokens_per_s": [r["a_tokens_per_s"] for r in results],
              "rounds_ratio_a_over_b": [r["ratio_a_over_b"] for r in results],
              "rounds_ratio_a_over_b_equal": [r["ratio_a_over_b_equal"] for r in results]}
    if sequential:
        _forget(generator)
        start, tokens = time.perf_counter(), 0
        for s in seeds:
            tokens += sum(t.num_model_tokens for t in engine.rollout([s]))
        seconds = time.perf_counter() - start
        result.update(c_sequential_tokens=tokens, c_sequential_seconds=seconds, c_tokens_per_s=tokens / seconds)
        result["ratio_a_over_c"] = statistics.median(result["rounds_a_tokens_per_s"]) / result["c_tokens_per_s"]
    engine.close()
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=BACKENDS, default="transformers")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-tokens-per-turn", type=int, default=48)
    parser.add_argument("--env", default="AgentR1/SynthHop-v0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-sequential", action="store_true", help="skip (c), the slow one-at-a-time run")
    parser.add_argument("--continuous", action="store_true", help="continuous batching instead of turn-synchronous batches")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--rounds", type=int, default=3, help="side-by-side rounds of (a), (b) and (b=); the median round is reported")
    parser.add_argument("--json", help="write the numbers to this file")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    r = measure(args.backend, args.episodes, args.max_tokens_per_turn, args.env, args.seed, not args.no_sequential,
                continuous=args.continuous, dtype=args.dtype, rounds=args.rounds)
    print(f"backend {r['backend']} ({'continuous batching' if r['continuous'] else 'turn-synchronous'}, {r['dtype']}), {r['episodes']} episodes of {r['env']}, {r['turns_per_episode']:.1f} turns each")
    print(f"(a) engine, multi-turn, batched:        {r['a_engine_tokens']:6d} tokens in {r['a_engine_seconds']:6.1f} s = {r['a_tokens_per_s']:6.1f} tokens/s")
    print(f"(b) single-turn batched, matched rows:  {r['b_plain_tokens']:6d} tokens in {r['b_plain_seconds']:6.1f} s = {r['b_tokens_per_s']:6.1f} tokens/s")
    print(f"(b=) single-turn batched, equal rows:   {r['b_equal_plain_tokens']:6d} tokens in {r['b_equal_plain_seconds']:6.1f} s = {r['b_equal_tokens_per_s']:6.1f} tokens/s")
    if "c_tokens_per_s" in r:
        print(f"(c) the same episodes one by one:        {r['c_sequential_tokens']:6d} tokens in {r['c_sequential_seconds']:6.1f} s = {r['c_tokens_per_s']:6.1f} tokens/s")
    for part in ("a", "b", "b_equal"):
        if f"{part}_decode_passes" in r:
            print(f"    ({part}) forward passes: {r[f'{part}_prefill_passes']} prefill, {r[f'{part}_prefill_seconds']:.1f} s "
                  f"({r[f'{part}_prefill_token_slots']} token slots, padding included); {r[f'{part}_decode_passes']} decode, "
                  f"{r[f'{part}_decode_seconds']:.1f} s")
    print(f"    (a) read {r['a_observation_tokens']} observation tokens")
    rounds = lambda key: ", ".join(f"{x:.2f}" for x in r[key])  # noqa: E731
    print(f"(a)/(b) = {r['ratio_a_over_b']:.2f}, the median of {r['rounds']} rounds ({rounds('rounds_ratio_a_over_b')}), above: its round")
    print(f"(a)/(b=) = {r['ratio_a_over_b_equal']:.2f} ({rounds('rounds_ratio_a_over_b_equal')}), where no engine gets past about "
          f"{r['bound_a_over_b_equal']:.2f}: the longest episode has {r['longest_episode_tokens']} tokens, an equal row "
          f"{r['b_equal_plain_tokens'] // r['episodes']}")
    if "ratio_a_over_c" in r:
        print(f"(a)/(c) = {r['ratio_a_over_c']:.1f}, with the median (a) of the rounds")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return r


if __name__ == "__main__":
    main()

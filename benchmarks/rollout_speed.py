"""Rollout throughput: the engine on multi-turn episodes against plain batched generation.

    python -m agent_r1.benchmarks.rollout_speed [--backend transformers|vllm] [--episodes 16]

Side by side in one process, with SmolLM2-135M-Instruct on SynthHop:
  (a) the engine: `--episodes` multi-turn episodes generated together;
  (b) one single-turn batched generation of the same number of tokens (the
      same batch size, every row forced to the same length: the best case);
  (c) the same episodes (same seeds) run one at a time through the engine.
Reported as generated tokens per second, and the ratios (a)/(b) and (a)/(c).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import agent_r1.envs  # noqa: F401
from agent_r1.trainer.backends import BACKENDS, make_generator
from agent_r1.trainer.rollout import RolloutConfig, RolloutEngine


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


def _plain_batch(generator, prompts: list[list[int]], tokens_per_row: int) -> float:
    """Seconds for one batched generation of exactly tokens_per_row tokens per prompt."""
    start = time.perf_counter()
    if hasattr(generator, "llm"):
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(temperature=1.0, max_tokens=tokens_per_row, min_tokens=tokens_per_row, logprobs=0)
        generator.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=False)
    else:
        import torch

        from transformers import LogitsProcessorList

        from agent_r1.trainer.kv_cache import GrowingCache
        from agent_r1.trainer.sampling import TokenSampler

        width = max(map(len, prompts))
        pad = generator.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        with torch.no_grad():  # the engine's sampler, log-probs recorded, as the engine does
            generator.model.generate(input_ids=ids, attention_mask=mask, do_sample=False, temperature=None, top_p=None, top_k=None,
                                     max_new_tokens=tokens_per_row, min_new_tokens=tokens_per_row, pad_token_id=pad,
                                     past_key_values=GrowingCache(),
                                     logits_processor=LogitsProcessorList([TokenSampler(1.0)]))
    return time.perf_counter() - start


def measure(backend: str, episodes: int, max_tokens_per_turn: int, env_id: str, seed: int, sequential: bool,
            continuous: bool = False, dtype: str = "float32") -> dict:
    generator, tokenizer = make_generator("smollm2-135m-instruct", backend, seed=seed, continuous=continuous, dtype=dtype)
    config = RolloutConfig(max_tokens_per_turn=max_tokens_per_turn, temperature=1.0)
    engine = RolloutEngine(generator, tokenizer, env_id, config=config)
    seeds = list(range(seed, seed + episodes))
    engine.rollout(seeds[:2])  # warm-up: first calls pay one-off costs

    _forget(generator)
    with _ForwardTimer(generator) as engine_timer:
        start = time.perf_counter()
        trajectories = engine.rollout(seeds)
        engine_seconds = time.perf_counter() - start
    engine_tokens = sum(t.num_model_tokens for t in trajectories)
    result = {
        "backend": backend, "continuous": continuous, "dtype": dtype, "env": env_id, "episodes": episodes, "max_tokens_per_turn": max_tokens_per_turn,
        "a_engine_tokens": engine_tokens, "a_engine_seconds": engine_seconds, "a_tokens_per_s": engine_tokens / engine_seconds,
        "turns_per_episode": sum(len(t.turn_spans) for t in trajectories) / episodes,
        "a_observation_tokens": sum(len(t.response_ids) - t.num_model_tokens for t in trajectories),
        **engine_timer.report("a"),
    }
    prompts = [t.prompt_ids for t in trajectories]
    per_row = math.ceil(engine_tokens / episodes)
    _forget(generator)  # (a) read these prompts: (b) must read them too
    with _ForwardTimer(generator) as plain_timer:
        plain_seconds = _plain_batch(generator, prompts, per_row)
    result.update(b_plain_tokens=per_row * episodes, b_plain_seconds=plain_seconds,
                  b_tokens_per_s=per_row * episodes / plain_seconds, **plain_timer.report("b"))
    result["ratio_a_over_b"] = result["a_tokens_per_s"] / result["b_tokens_per_s"]
    if sequential:
        _forget(generator)
        start, tokens = time.perf_counter(), 0
        for s in seeds:
            tokens += sum(t.num_model_tokens for t in engine.rollout([s]))
        seconds = time.perf_counter() - start
        result.update(c_sequential_tokens=tokens, c_sequential_seconds=seconds, c_tokens_per_s=tokens / seconds)
        result["ratio_a_over_c"] = result["a_tokens_per_s"] / result["c_tokens_per_s"]
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
    parser.add_argument("--json", help="write the numbers to this file")
    args = parser.parse_args(argv)
    r = measure(args.backend, args.episodes, args.max_tokens_per_turn, args.env, args.seed, not args.no_sequential,
                continuous=args.continuous, dtype=args.dtype)
    print(f"backend {r['backend']} ({'continuous batching' if r['continuous'] else 'turn-synchronous'}, {r['dtype']}), {r['episodes']} episodes of {r['env']}, {r['turns_per_episode']:.1f} turns each")
    print(f"(a) engine, multi-turn, batched:   {r['a_engine_tokens']:6d} tokens in {r['a_engine_seconds']:6.1f} s = {r['a_tokens_per_s']:6.1f} tokens/s")
    print(f"(b) single-turn batched generation: {r['b_plain_tokens']:6d} tokens in {r['b_plain_seconds']:6.1f} s = {r['b_tokens_per_s']:6.1f} tokens/s")
    if "c_tokens_per_s" in r:
        print(f"(c) the same episodes one by one:   {r['c_sequential_tokens']:6d} tokens in {r['c_sequential_seconds']:6.1f} s = {r['c_tokens_per_s']:6.1f} tokens/s")
    for part in ("a", "b"):
        if f"{part}_decode_passes" in r:
            print(f"    ({part}) forward passes: {r[f'{part}_prefill_passes']} prefill, {r[f'{part}_prefill_seconds']:.1f} s "
                  f"({r[f'{part}_prefill_token_slots']} token slots, padding included); {r[f'{part}_decode_passes']} decode, "
                  f"{r[f'{part}_decode_seconds']:.1f} s")
    print(f"    (a) read {r['a_observation_tokens']} observation tokens")
    print(f"(a)/(b) = {r['ratio_a_over_b']:.2f}" + (f", (a)/(c) = {r['ratio_a_over_c']:.1f}" if "ratio_a_over_c" in r else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return r


if __name__ == "__main__":
    main()

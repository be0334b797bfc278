"""Choosing a generation backend for a model name."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BACKENDS = ("transformers", "vllm")
# The CPU flags (/proc/cpuinfo) of instructions that multiply in bfloat16; without them a CPU emulates it.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")
# Why a KV cache size is refused with the transformers backend, wherever it is asked for (a config or an argument).
KV_CACHE_NEEDS_VLLM = "a KV cache size sets the vllm backend's cache: the transformers backend keeps one per episode"


def fast_bfloat16() -> bool:
    """Whether this machine computes in bfloat16 faster than in float32: a GPU, or a CPU with bfloat16 instructions.
    Elsewhere it is slower: on a 2-core AVX2 EPYC, vLLM answered 40 Naive RAG questions in 231 s in bfloat16 against
    49 s in float32; on an AVX-512 BF16 CPU the demo's steps were faster in bfloat16 (docs/training.md)."""
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return True
    try:
        flags = " ".join(line for line in CPUINFO.read_text().splitlines() if line.startswith("flags")).split()
    except OSError:
        return False
    return any(flag in flags for flag in BFLOAT16_CPU_FLAGS)


def demo_sampler() -> str:
    """The demo's sampler options (the Makefile's DEMO_SAMPLER): vLLM where it is installed, in bfloat16 where that
    is fast (see fast_bfloat16); the policy itself, in float32, elsewhere."""
    if importlib.util.find_spec("vllm") is None:
        return ""
    return "--backend vllm --rollout-dtype bfloat16" if fast_bfloat16() else "--backend vllm"


def make_generator(model: str, backend: str = "transformers", *, dtype: str = "float32", seed: int = 0,
                   max_model_len: int = 4096, continuous: bool = False, kv_cache_gb: float | None = None):
    """(generator, tokenizer) for a hub id, a local directory, a train checkpoint, or the default model.

    `continuous` picks continuous batching (episodes join and leave the batch
    between decode steps) over turn-synchronous batches; `kv_cache_gb` sizes
    vLLM's KV cache (None: vllm_generator.py's default).
    """
    from agent_r1.trainer.rollout.models import load_model, servable, tokenizer_from

    if kv_cache_gb is not None and backend != "vllm":
        raise ValueError(KV_CACHE_NEEDS_VLLM)
    if backend == "transformers":
        import torch

        from agent_r1.trainer.rollout.hf_generator import TransformersGenerator

        from agent_r1.trainer.rollout.continuous_hf import ContinuousTransformersGenerator

        torch.manual_seed(seed)
        policy, tokenizer = load_model(model, dtype=dtype)
        policy.eval()
        generator = ContinuousTransformersGenerator(policy, tokenizer) if continuous else TransformersGenerator(policy, tokenizer)
        return generator, tokenizer
    if backend == "vllm":
        from agent_r1.trainer.rollout.vllm_generator import ContinuousVLLMGenerator, VLLMGenerator

        path = servable(model)
        kind = ContinuousVLLMGenerator if continuous else VLLMGenerator
        # On a CPU the engine runs in this process: in worker processes, as vLLM starts it elsewhere, 20 Naive RAG
        # answers took 221 s on 2 cores against 32 s in this process (a worker spins while it waits).
        import torch

        return kind(path, seed=seed, max_model_len=max_model_len, dtype=dtype, colocate=not torch.cuda.is_available(),
                    kv_cache_gb=kv_cache_gb), \
            tokenizer_from(path)
    raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")

"""Choosing a generation backend for a model name."""

from __future__ import annotations

BACKENDS = ("transformers", "vllm")


def make_generator(model: str, backend: str = "transformers", *, dtype: str = "float32", seed: int = 0,
                   max_model_len: int = 4096, continuous: bool = False):
    """(generator, tokenizer) for a hub id, a local directory, a train checkpoint, or the default model.

    `continuous` picks continuous batching (episodes join and leave the batch
    between decode steps) over turn-synchronous batches.
    """
    from agent_r1.trainer.rollout.models import load_model, resolve_model, tokenizer_from

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

        path = resolve_model(model)
        kind = ContinuousVLLMGenerator if continuous else VLLMGenerator
        return kind(path, seed=seed, max_model_len=max_model_len, dtype=dtype), tokenizer_from(path)
    raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")

"""Choosing a generation backend for a model name."""

from __future__ import annotations

BACKENDS = ("transformers", "vllm")


def make_generator(model: str, backend: str = "transformers", *, dtype: str = "float32", seed: int = 0,
                   max_model_len: int = 4096, continuous: bool = False):
    """(generator, tokenizer) for a hub id, a local directory, a train checkpoint, or the default model.

    `continuous` picks continuous batching (episodes join and leave the batch
    between decode steps) over turn-synchronous batches.
    """
    from agent_r1.trainer.rollout.models import load_model, servable, tokenizer_from

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
        # On a CPU the engine runs in this process: in worker processes, as vLLM starts it elsewhere, it generated
        # 20 Naive RAG answers in 221 s here where the trainer's in-process engine takes seconds (two cores, and a
        # worker that spins while it waits).
        import torch

        return kind(path, seed=seed, max_model_len=max_model_len, dtype=dtype, colocate=not torch.cuda.is_available()), \
            tokenizer_from(path)
    raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")

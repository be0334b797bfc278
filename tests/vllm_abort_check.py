"""Run as a script (vLLM spawns workers, so it needs a __main__ guard): the continuous vLLM generator's abort.

Turns in flight when a rollout fails are cancelled; the next turns submitted come back alone.
Prints "ok" and exits 0, or raises.
"""

from agent_r1.trainer.rollout.generation import SamplingConfig
from agent_r1.trainer.rollout.models import load_tokenizer, resolve_model
from agent_r1.trainer.rollout.vllm_generator import ContinuousVLLMGenerator


def main() -> None:
    path = resolve_model("smollm2-135m-instruct")
    tokenizer = load_tokenizer(path)
    generator = ContinuousVLLMGenerator(path, max_model_len=512)
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

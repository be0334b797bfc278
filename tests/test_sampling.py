"""The token sampler and the in-place KV cache: the pieces that make a decode step cheap must not change its result."""

import pytest
import torch

from agent_r1.trainer.rollout.sampling import sample_next


def test_samples_follow_the_temperature_scaled_distribution():
    logits = torch.tensor([[0.0, 1.0, 2.0, -30.0]]).repeat(40_000, 1)
    torch.manual_seed(0)
    tokens, logprobs = sample_next(logits, temperature=0.5)
    expected = torch.softmax(logits[0] / 0.5, -1)
    frequencies = torch.bincount(tokens, minlength=4).double() / len(tokens)
    torch.testing.assert_close(frequencies, expected.double(), atol=0.01, rtol=0)
    torch.testing.assert_close(logprobs, torch.log_softmax(logits / 0.5, -1).gather(1, tokens[:, None]).squeeze(1))


def test_a_token_of_zero_probability_is_never_drawn():
    logits = torch.full((20_000, 5), float("-inf"))
    logits[:, 3] = 0.0  # the only possible token, behind tokens that cannot be drawn
    torch.manual_seed(0)
    tokens, logprobs = sample_next(logits, temperature=1.0)
    assert tokens.eq(3).all() and logprobs.eq(0).all()


def test_top_p_cuts_the_tail_but_the_logprob_is_the_full_policys():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(20_000, 1)
    torch.manual_seed(0)
    tokens, logprobs = sample_next(logits, temperature=1.0, top_p=0.7)
    assert set(tokens.tolist()) == {0, 1}  # 0.5 + 0.3 covers 0.7
    frequencies = torch.bincount(tokens, minlength=4).double() / len(tokens)
    assert abs(frequencies[0].item() - 0.5 / 0.8) < 0.02
    torch.testing.assert_close(logprobs, torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05])).gather(0, tokens))


def test_temperature_zero_is_greedy():
    logits = torch.tensor([[0.1, 3.0, 2.0], [5.0, 0.0, 0.0]])
    tokens, logprobs = sample_next(logits, temperature=0.0)
    assert tokens.tolist() == [1, 0]
    torch.testing.assert_close(logprobs, torch.log_softmax(logits, -1)[[0, 1], [1, 0]])


@pytest.fixture(scope="module")
def small_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    return LlamaForCausalLM(config).eval()


def test_the_growing_cache_gives_the_dynamic_caches_logits(small_llama):
    """Prefill, decode past the first buffer's capacity, drop and reorder rows: the same logits as DynamicCache."""
    from transformers import DynamicCache

    from agent_r1.trainer.rollout.kv_cache import GrowingCache

    torch.manual_seed(1)
    ids = torch.randint(0, 300, (3, 20))
    mask = torch.ones(3, 20 + 300, dtype=torch.long)
    mask[0, :6] = 0  # a left-padded row
    outputs = {}
    for name, cache in (("dynamic", DynamicCache()), ("growing", GrowingCache())):
        logits = []
        with torch.no_grad():
            logits.append(small_llama(input_ids=ids, attention_mask=mask[:, :20], past_key_values=cache).logits[:, -1])
            length, rows = 20, torch.arange(3)
            for step in range(300):  # 320 positions: the growing cache reallocates on the way
                if step == 150:
                    cache.batch_select_indices(torch.tensor([2, 0]))  # a finished row leaves, the rest reorder
                    rows = rows[[2, 0]]
                token = torch.full((len(rows), 1), step % 300)
                length += 1
                out = small_llama(input_ids=token, attention_mask=mask[rows, :length], past_key_values=cache)
                logits.append(out.logits[:, -1])
        outputs[name] = logits
        assert cache.get_seq_length() == length
    for got, expected in zip(outputs["growing"], outputs["dynamic"]):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_a_cropped_growing_cache_continues_where_it_was_cut(small_llama):
    from transformers import DynamicCache

    from agent_r1.trainer.rollout.kv_cache import GrowingCache

    torch.manual_seed(2)
    ids = torch.randint(0, 300, (2, 12))
    results = []
    for cache in (DynamicCache(), GrowingCache()):
        with torch.no_grad():
            small_llama(input_ids=ids, past_key_values=cache)
            cache.crop(-4)  # drop the last 4 positions, then feed them again
            results.append(small_llama(input_ids=ids[:, -4:], past_key_values=cache).logits)
        assert cache.get_seq_length() == 12
    torch.testing.assert_close(results[1], results[0], atol=1e-5, rtol=1e-5)

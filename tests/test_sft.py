import pytest
import torch

from agent_r1.trainer.sft import (
    accumulate_sft_loss,
    collate,
    masked_token_logprobs,
    oracle_trajectories,
    sft_loss,
    token_logprobs,
    warm_start,
)
from agent_r1.trainer.train_config import WarmStartSettings
from conftest import fake_stderr


@pytest.fixture
def tiny_lora_model(smollm2_tokenizer):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(smollm2_tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096)
    return get_peft_model(LlamaForCausalLM(config), LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))


def test_collate_aligns_the_loss_mask_with_the_predicted_tokens(smollm2_tokenizer):
    (t,) = oracle_trajectories(smollm2_tokenizer, "AgentR1/SynthHop-v0", 1)
    batch = collate([t], pad_id=0)
    predicted = batch["input_ids"][0, 1:][batch["loss_mask"][0].bool()].tolist()
    expected = [token for token, m in zip(t.response_ids, t.loss_mask) if m]
    assert predicted == expected


def test_logprobs_on_agent_positions_only_equal_the_full_computation(tiny_lora_model, smollm2_tokenizer):
    batch = collate(oracle_trajectories(smollm2_tokenizer, "AgentR1/SynthHop-v0", 3), smollm2_tokenizer.pad_token_id)
    with torch.no_grad():
        full = token_logprobs(tiny_lora_model, batch["input_ids"], batch["attention_mask"])
        kept, mask = masked_token_logprobs(tiny_lora_model, batch)
    positions = batch["loss_mask"].any(dim=0).nonzero().squeeze(1)
    assert kept.shape[1] == len(positions) < batch["loss_mask"].shape[1]
    torch.testing.assert_close(kept[mask.bool()], full[:, positions][mask.bool()], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bf16", [False, True])
def test_warm_start_lowers_the_loss_and_trains_only_the_adapter(tiny_lora_model, smollm2_tokenizer, bf16):
    dtypes = set()  # what the first layer's query projection computes in
    attention = next(m for n, m in tiny_lora_model.named_modules() if n.endswith("q_proj.base_layer"))
    attention.register_forward_hook(lambda module, args, output: dtypes.add(output.dtype))
    frozen = {n: p.detach().clone() for n, p in tiny_lora_model.named_parameters() if not p.requires_grad}
    adapter = {n: p.detach().clone() for n, p in tiny_lora_model.named_parameters() if p.requires_grad}
    data = collate(oracle_trajectories(smollm2_tokenizer, "AgentR1/SynthHop-v0", 8, seed=1), smollm2_tokenizer.pad_token_id)
    with torch.no_grad():
        before = sft_loss(tiny_lora_model, data).item()
    losses = warm_start(tiny_lora_model, smollm2_tokenizer, "AgentR1/SynthHop-v0",
                        WarmStartSettings(episodes=8, epochs=6, learning_rate=3e-3, seed=1, batch_size=4),
                        progress=False, bf16=bf16)
    with torch.no_grad():
        after = sft_loss(tiny_lora_model, data).item()
    assert len(losses) == 12 and all(map(torch.isfinite, torch.tensor(losses)))
    assert after < before - 0.3  # a random 2-layer base: the adapter alone moves it slowly
    assert torch.bfloat16 in dtypes if bf16 else dtypes == {torch.float32}
    assert all(p.dtype == torch.float32 for p in tiny_lora_model.parameters())  # autocast, not a cast
    for name, parameter in tiny_lora_model.named_parameters():
        if name in frozen:
            assert torch.equal(parameter, frozen[name]), name
    assert any(not torch.equal(p, adapter[n]) for n, p in tiny_lora_model.named_parameters() if n in adapter)


def test_a_batch_run_in_slices_has_the_loss_and_gradient_of_the_whole_batch(tiny_lora_model, smollm2_tokenizer):
    # Long episodes run a few rows per forward, else activations outgrow the machine (eight 1,300-token episodes
    # of the default model took over 20 GB); the objective must not change with the slicing.
    batch = collate(oracle_trajectories(smollm2_tokenizer, "AgentR1/SynthHop-v0", 5, seed=3), smollm2_tokenizer.pad_token_id)
    trainable = [p for p in tiny_lora_model.parameters() if p.requires_grad]
    whole = sft_loss(tiny_lora_model, batch)
    whole.backward()
    expected = [p.grad.clone() for p in trainable]
    tiny_lora_model.zero_grad()
    sliced = accumulate_sft_loss(tiny_lora_model, batch, tokens_per_forward=2 * batch["input_ids"].size(1))  # 2 rows
    assert sliced == pytest.approx(whole.item(), rel=1e-5)
    for grad, reference in zip((p.grad for p in trainable), expected):
        torch.testing.assert_close(grad, reference, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("terminal", [True, False])
def test_the_warm_start_draws_its_bar_on_a_terminal_only(tiny_lora_model, smollm2_tokenizer, monkeypatch, terminal):
    stderr = fake_stderr(monkeypatch, terminal)
    warm_start(tiny_lora_model, smollm2_tokenizer, "AgentR1/SynthHop-v0",
               WarmStartSettings(episodes=2, epochs=1, learning_rate=1e-3, seed=0, batch_size=1))
    assert ("warm start" in stderr.getvalue()) is terminal

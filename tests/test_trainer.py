"""The RL trainer end to end on a tiny model: every algorithm learns something, masks hold, LoRA stays LoRA."""

import math

import pytest
import torch

pytest.importorskip("trl")

import toy_env  # noqa: E402  (registers AgentR1Test/Vowels-v0)
from agent_r1.trainer.agent_trainer import ALGORITHMS, AgentTrainer  # noqa: E402
from agent_r1.trainer.rollout.engine import RolloutConfig  # noqa: E402
from conftest import fake_stderr  # noqa: E402


def tiny_llama(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config)


def make_trainer(tokenizer, tmp_path, algo, *, lora=True, steps=2, lr=1e-2, temperature=1.0, generator=None):
    from peft import LoraConfig, get_peft_model
    from trl import GRPOConfig

    model = tiny_llama(tokenizer)
    if lora:
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    args = GRPOConfig(output_dir=str(tmp_path / algo), per_device_train_batch_size=4, gradient_accumulation_steps=2,
                      steps_per_generation=2, num_generations=4, max_steps=steps, learning_rate=lr, bf16=False,
                      use_cpu=True, report_to="none", logging_steps=1, save_strategy="no", max_completion_length=256,
                      seed=0, temperature=temperature)
    return AgentTrainer(model, tokenizer, toy_env.ENV_ID, list(range(100, 140)), args, algo=algo,
                        rollout=RolloutConfig(max_tokens_per_turn=8, max_total_tokens=256, temperature=temperature),
                        generator=generator(model, tokenizer) if generator else None)


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_every_algorithm_trains_the_adapter_only(smollm2_tokenizer, tmp_path, algo):
    trainer = make_trainer(smollm2_tokenizer, tmp_path, algo)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert any("lora_" in n for n in changed), "the adapter did not move"
    assert all("lora_" in n or "value_head" in n for n in changed), sorted(changed - {n for n in changed if "lora_" in n})
    if algo == "ppo":
        assert any("value_head" in n for n in changed)
        assert all(math.isfinite(h["value_loss"]) for h in trainer.state.log_history if "value_loss" in h)


def test_full_finetune_moves_the_base_weights(smollm2_tokenizer, tmp_path):
    trainer = make_trainer(smollm2_tokenizer, tmp_path, "grpo", lora=False, steps=1, lr=1e-3)
    before = trainer.model.model.layers[0].mlp.up_proj.weight.detach().clone()
    trainer.train()
    assert not torch.equal(before, trainer.model.model.layers[0].mlp.up_proj.weight)


@pytest.mark.parametrize("algo", ["grpo", "turn_level", "ppo"])
def test_observation_tokens_are_out_of_the_advantages_and_the_loss(smollm2_tokenizer, tmp_path, algo):
    trainer = make_trainer(smollm2_tokenizer, tmp_path, algo)
    trainer.model.train()
    seeds = [100] * 4 + [101] * 4
    batch = trainer._generate_and_score_completions([{"prompt": f"seed={s}"} for s in seeds])
    trajectories = trainer.trajectories
    assert [t.seed for t in trajectories] == seeds
    assert any(0 in t.loss_mask[: len(t.response_ids)] for t in trajectories), "the toy env answers between turns"
    for row, t in enumerate(trajectories):
        n = len(t.response_ids)
        assert batch["completion_ids"][row, :n].tolist() == t.response_ids
        # TRL multiplies its loss by completion_mask * tool_mask: the loss mask of the engine
        assert (batch["completion_mask"][row, :n] * batch["tool_mask"][row, :n]).tolist() == t.loss_mask
        assert batch["completion_mask"][row, n:].sum() == 0
        advantages = batch["advantages"][row]
        if advantages.dim() == 1 and advantages.numel() > 1:  # per-token estimators
            off = torch.tensor(t.loss_mask) == 0
            assert advantages[:n][off].abs().sum() == 0
            assert advantages[n:].abs().sum() == 0
    if algo == "ppo":
        mask = torch.nn.utils.rnn.pad_sequence([torch.tensor(t.loss_mask) for t in trajectories], batch_first=True)
        width = mask.size(1)
        assert (batch["returns"][:, :width] * (1 - mask)).abs().sum() == 0


def test_turn_level_credits_turns_by_their_own_and_later_rewards(smollm2_tokenizer, tmp_path):
    trainer = make_trainer(smollm2_tokenizer, tmp_path, "turn_level")
    trainer.model.train()
    batch = trainer._generate_and_score_completions([{"prompt": "seed=100"}] * 4 + [{"prompt": "seed=101"}] * 4)
    assert batch["advantages"].shape == batch["completion_ids"].shape
    group = trainer.trajectories[:4]
    pooled = torch.tensor([sum(t.turn_rewards[i:]) for t in group for i in range(len(t.turn_rewards))])
    assert pooled.std() > 0, "the toy env pays differently per turn"
    for row, t in enumerate(group):
        for turn, (start, end) in enumerate(t.turn_spans):
            expected = (sum(t.turn_rewards[turn:]) - pooled.mean()) / (pooled.std(unbiased=False) + 1e-6)
            torch.testing.assert_close(batch["advantages"][row, start:end], expected.expand(end - start))


def test_a_batch_that_splits_a_group_is_refused(smollm2_tokenizer, tmp_path):
    trainer = make_trainer(smollm2_tokenizer, tmp_path, "grpo")
    with pytest.raises(RuntimeError, match="whole groups"):
        trainer._rollout(["seed=1", "seed=1", "seed=2", "seed=2"], trainer)
    with pytest.raises(ValueError, match="seed=N"):
        trainer._rollout(["What is 2+2?"] * 4, trainer)


def test_ppo_values_come_from_the_backbone_alone_and_match_the_full_forward(smollm2_tokenizer):
    from peft import LoraConfig, get_peft_model

    from agent_r1.trainer.value_head import ValueHead, captured_hidden_states, values_before_tokens

    model = get_peft_model(tiny_llama(smollm2_tokenizer), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    head = ValueHead(model.config.hidden_size)
    torch.nn.init.normal_(head.linear.weight)  # a head that reads the hidden states (a new one predicts 0)
    input_ids = torch.randint(3, 200, (5, 12))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :4] = 0  # a left-padded prompt
    with torch.no_grad(), captured_hidden_states(model) as hidden:
        model(input_ids=input_ids, attention_mask=attention_mask)
    expected = head(hidden[0][:, -5:-1])  # the states before each of the last 4 tokens
    values = values_before_tokens(model, head, input_ids, attention_mask, 4, batch_size=2)
    assert values.shape == (5, 4)
    torch.testing.assert_close(values, expected)


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "log file"])
def test_the_step_bar_is_drawn_on_a_terminal_only(tmp_path, monkeypatch, terminal):
    # Under nohup TRL's step bar redrew into the paper experiment's log twice a step.
    from agent_r1.trainer.train import _grpo_args
    from agent_r1.trainer.train_config import TrainConfig

    fake_stderr(monkeypatch, terminal)
    assert _grpo_args(TrainConfig(), tmp_path).disable_tqdm is not terminal

"""A training step's micro-batches (zero-advantage rows skipped, padding trimmed, only the model's tokens scored) give
TRL's gradient, faster; and each step's record says where its time went."""

import time

import pytest
import torch

pytest.importorskip("trl")

from agent_r1.trainer.micro_batches import micro_batches  # noqa: E402
from agent_r1.trainer.rollout.phases import PHASES  # noqa: E402
from test_trainer import make_trainer  # noqa: E402


def synthetic_batch(advantages, prompt_lengths, completion_lengths, width=10, prompt_width=6):
    rows = len(advantages)
    prompt_mask = torch.zeros(rows, prompt_width, dtype=torch.long)
    completion_mask = torch.zeros(rows, width, dtype=torch.long)
    for row, (p, c) in enumerate(zip(prompt_lengths, completion_lengths)):
        prompt_mask[row, prompt_width - p:] = 1  # TRL pads prompts on the left
        completion_mask[row, :c] = 1  # and completions on the right
    return {
        "prompt_ids": torch.arange(rows * prompt_width).view(rows, prompt_width) * prompt_mask,
        "prompt_mask": prompt_mask,
        "completion_ids": (torch.arange(rows * width).view(rows, width) + 1000) * completion_mask,
        "completion_mask": completion_mask,
        "tool_mask": completion_mask.clone(),
        "advantages": torch.tensor(advantages, dtype=torch.float32),
        "num_items_in_batch": completion_mask.sum(),
    }


def scored_batch(trainer):
    """A generation batch of two groups, scored as TRL's training loop would, before its micro-batches run."""
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 2  # set by the training loop before each step
    return trainer._generate_and_score_completions([{"prompt": f"seed={s}"} for s in [100] * 4 + [101] * 4])


def test_zero_advantage_rows_go_last_and_each_micro_batch_is_cut_to_its_longest_row():
    batch = synthetic_batch([0.0, 1.0, 0.0, -1.0, 0.5, 0.0], [2, 6, 3, 1, 4, 2], [1, 10, 2, 3, 5, 1])
    chunks = micro_batches(batch, 3)
    assert [c["advantages"].tolist() for c in chunks] == [[-1.0, 0.5], [1.0, 0.0], [0.0, 0.0]]
    assert [tuple(c["prompt_ids"].shape) for c in chunks] == [(2, 4), (2, 6), (2, 3)]
    assert [tuple(c["completion_ids"].shape) for c in chunks] == [(2, 5), (2, 10), (2, 2)]
    assert all(c["tool_mask"].shape == c["completion_mask"].shape for c in chunks)
    assert all(c["num_items_in_batch"] is batch["num_items_in_batch"] for c in chunks)  # the global token count
    # Every real token of every row is kept, in place.
    original = {int(batch["completion_ids"][row, 0]): row for row in range(6)}
    for chunk in chunks:
        for row in range(2):
            source = original[int(chunk["completion_ids"][row, 0])]
            real = batch["completion_mask"][source].bool()
            assert chunk["completion_ids"][row, : int(real.sum())].tolist() == batch["completion_ids"][source][real].tolist()
            prompt_real = batch["prompt_mask"][source].bool()
            assert chunk["prompt_ids"][row][chunk["prompt_mask"][row].bool()].tolist() == batch["prompt_ids"][source][prompt_real].tolist()


def test_a_batch_that_does_not_cut_evenly_is_refused():
    with pytest.raises(ValueError, match="6 rows"):
        micro_batches(synthetic_batch([0.0] * 6, [1] * 6, [1] * 6), 4)


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "dr_grpo"])
def test_the_step_gradient_equals_trls_with_zero_advantage_micro_batches_skipped(smollm2_tokenizer, tmp_path, loss_type):
    from trl import GRPOTrainer
    from trl.trainer.utils import split_tensor_dict

    trainer = make_trainer(smollm2_tokenizer, tmp_path, "grpo")
    trainer.loss_type = loss_type
    batch = scored_batch(trainer)
    batch["advantages"][:4] = 0.0  # the first group earned equal returns: no signal
    assert batch["advantages"][4:].abs().sum() > 0, "the toy env should give the second group unequal returns"

    def gradient(chunks, loss):
        trainer.model.zero_grad()
        for chunk in chunks:
            loss(trainer.model, chunk).backward()
        return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}

    # TRL's loss (GRPOTrainer.compute_loss) over its own slices, every row computed.
    reference = gradient(split_tensor_dict(batch, 2), lambda model, chunk: GRPOTrainer.compute_loss(trainer, model, chunk))
    trainer.skipped_micro_batches = 0
    ours = gradient(micro_batches(batch, 2), trainer.compute_loss)
    assert trainer.skipped_micro_batches == 1
    assert any(g.abs().sum() > 0 for g in reference.values())
    for name in reference:
        torch.testing.assert_close(ours[name], reference[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("term", ["kl", "entropy bonus"])
def test_a_micro_batch_is_not_skipped_when_the_loss_has_another_term(smollm2_tokenizer, tmp_path, term):
    trainer = make_trainer(smollm2_tokenizer, tmp_path, "grpo")
    batch = scored_batch(trainer)
    batch["advantages"][:] = 0.0
    # Either term has a gradient even where the advantages are zero.
    if term == "kl":
        trainer.beta = 0.1
        batch["ref_per_token_logps"] = torch.zeros(batch["completion_ids"].shape)
    else:
        trainer.entropy_coef, trainer._entropy_bonus_enabled = 0.01, True
    trainer.model.zero_grad()
    trainer.compute_loss(trainer.model, micro_batches(batch, 2)[0]).backward()
    assert trainer.skipped_micro_batches == 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.model.parameters() if p.requires_grad)


def test_each_step_record_says_where_its_time_went(smollm2_tokenizer, tmp_path):
    trainer = make_trainer(smollm2_tokenizer, tmp_path, "grpo")
    started = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - started
    steps = [h for h in trainer.state.log_history if "loss" in h]
    assert len(steps) == 2
    for record in steps:
        parts = {name: record[f"time/{name}"] for name in PHASES}
        assert all(seconds >= 0 for seconds in parts.values())
        assert parts["rollout_generate"] > 0 and parts["forward"] + parts["backward"] > 0 and parts["optimizer"] > 0
        # transformers' generate is most of the engine's generation time; the rest is the generator's own bookkeeping
        assert 0.5 * parts["rollout_generate"] < parts["rollout_prefill"] + parts["rollout_decode"] <= parts["rollout_generate"]
        summed = sum(v for k, v in parts.items() if k not in ("rollout_prefill", "rollout_decode"))
        assert record["time/total"] == pytest.approx(summed)
        assert record["memory/peak_gb"] >= record["memory/resident_gb"] > 0
    assert sum(r["time/total"] for r in steps) <= wall
    assert sum(trainer.phase_seconds.values()) > 0


def test_the_loss_scores_the_models_tokens_as_trl_does_and_nothing_else(smollm2_tokenizer, tmp_path):
    from agent_r1.trainer.scoring import scored_logps_and_entropies

    trainer = make_trainer(smollm2_tokenizer, tmp_path, "grpo", temperature=0.7)  # both divide the logits by it
    batch = scored_batch(trainer)
    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], 1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], 1)
    width = batch["completion_ids"].size(1)
    scored = (batch["completion_mask"] * batch["tool_mask"]) > 0
    assert 0 < scored.sum() < batch["completion_mask"].sum(), "the toy env's observations are in the completion"
    with torch.no_grad():
        reference, reference_entropy, _ = trainer._get_per_token_logps_and_entropies(  # TRL's: no loss in progress
            trainer.model, input_ids, attention, width, compute_entropy=True)
        ours, entropy = scored_logps_and_entropies(trainer.model, input_ids, attention, scored, trainer.temperature)
    torch.testing.assert_close(ours[scored], reference[scored], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(entropy[scored], reference_entropy[scored], rtol=1e-4, atol=1e-5)
    assert not ours[~scored].any() and not entropy[~scored].any()

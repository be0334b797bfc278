"""Supervised warm start on the environments' oracle trajectories.

Small instruct models do not follow a tool protocol zero-shot; a short round of
supervised fine-tuning on `oracle_action()` trajectories teaches the format
before RL. The data goes through the rollout engine (teacher mode), so its
tokens, masks and chat-template suffixes are exactly those RL will produce:
the loss covers the agent's tokens only.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Sequence

import torch

from agent_r1.trainer.rollout.engine import RolloutConfig, RolloutEngine
from agent_r1.trainer.train_config import WarmStartSettings
from agent_r1.trainer.rollout.trajectory import Trajectory

logger = logging.getLogger(__name__)


def collate(trajectories: Sequence[Trajectory], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded prompt+response ids, attention mask, and the loss mask of each predicted token.

    `loss_mask[:, i]` is 1 when token i + 1 (predicted at position i) is a model token.
    """
    sequences = [t.prompt_ids + t.response_ids for t in trajectories]
    width = max(map(len, sequences))
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(sequences), width), dtype=torch.long)
    loss_mask = torch.zeros((len(sequences), width - 1), dtype=torch.float32)
    for row, (t, ids) in enumerate(zip(trajectories, sequences)):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        start = len(t.prompt_ids) - 1
        loss_mask[row, start : start + len(t.loss_mask)] = torch.tensor(t.loss_mask, dtype=torch.float32)
    return {"input_ids": input_ids, "attention_mask": attention, "loss_mask": loss_mask}


def token_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p(token i + 1 | tokens <= i) for every position: shape (batch, length - 1)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float() / temperature
    return torch.log_softmax(logits, dim=-1).gather(2, input_ids[:, 1:, None]).squeeze(2)


def masked_token_logprobs(model, batch: dict[str, torch.Tensor], temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Like token_logprobs, but the LM head and the log-softmax run only where some row has an agent token.

    With a 49k vocabulary the full (batch, length, vocab) log-softmax dominates a step's
    memory; prompts and trailing padding never need it. Returns (logprobs, mask), both
    (batch, positions), for the positions kept.
    """
    positions = batch["loss_mask"].any(dim=0).nonzero().squeeze(1)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=positions).logits
    targets = batch["input_ids"][:, positions + 1]
    logprobs = torch.log_softmax(logits.float() / temperature, dim=-1).gather(2, targets[:, :, None]).squeeze(2)
    return logprobs, batch["loss_mask"][:, positions]


def sft_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean negative log-likelihood of the agent's tokens."""
    logprobs, mask = masked_token_logprobs(model, batch)
    return -(logprobs * mask).sum() / mask.sum().clamp(min=1)


def accumulate_sft_loss(model, batch: dict[str, torch.Tensor], tokens_per_forward: int) -> float:
    """sft_loss of `batch`, its gradient accumulated over slices of rows of at most `tokens_per_forward` tokens
    (at least one row): a forward's activations grow with its tokens, and eight 1,300-token episodes of a
    135M model at once need over 20 GB. Each slice weighs by its share of the agent's tokens, so the gradient
    is that of the whole batch. Returns the loss."""
    rows_per_slice = max(1, tokens_per_forward // batch["input_ids"].size(1))
    total = batch["loss_mask"].sum().clamp(min=1)
    loss = 0.0
    for first in range(0, batch["input_ids"].size(0), rows_per_slice):
        part = {k: v[first : first + rows_per_slice] for k, v in batch.items()}
        logprobs, mask = masked_token_logprobs(model, part)
        slice_loss = -(logprobs * mask).sum() / total
        slice_loss.backward()
        loss += slice_loss.item()
    return loss


def oracle_trajectories(tokenizer, env_id: str, episodes: int, *, seed: int = 10_000, env_kwargs: dict[str, Any] | None = None,
                        max_total_tokens: int = 2048) -> list[Trajectory]:
    engine = RolloutEngine(None, tokenizer, env_id, env_kwargs=env_kwargs, config=RolloutConfig(max_total_tokens=max_total_tokens))
    trajectories = []
    for first in range(seed, seed + episodes, 64):
        seeds = list(range(first, min(first + 64, seed + episodes)))
        trajectories += engine.rollout(seeds, teacher=lambda env: env.unwrapped.oracle_action())
    engine.close()
    return trajectories


def warm_start(model, tokenizer, env_id: str, config: WarmStartSettings, *,
               env_kwargs: dict[str, Any] | None = None, progress: bool = True,
               data: Sequence[Trajectory] | None = None, gradient_checkpointing: bool = False,
               bf16: bool = False) -> list[float]:
    """Fine-tunes `model` (its trainable parameters: the LoRA adapter, if any) on oracle trajectories.
    Returns the loss of every optimiser step. `data` is the trajectories when the caller made them already
    (a training run, to record their tasks); else config.episodes of them are made here. Each optimiser step takes
    config.batch_size of them. With `gradient_checkpointing`, activations are recomputed in the backward pass instead of
    kept: the memory of about one layer's instead of every layer's, for one more forward pass. With `bf16`, the
    passes run under bfloat16 autocast (the weights and the optimiser stay as they are)."""
    from tqdm.auto import tqdm

    if data is None:
        data = oracle_trajectories(tokenizer, env_id, config.episodes, seed=config.seed, env_kwargs=env_kwargs)
    if not data:
        raise ValueError("the warm start has no episodes: give it at least one (WarmStartSettings.episodes)")
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters")
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate)
    rng = random.Random(config.seed)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    losses = []
    model.train()
    if gradient_checkpointing:
        # Non-reentrant checkpointing needs no gradient on the inputs, so a frozen base model with an adapter works.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    batch_size = config.batch_size
    steps = config.epochs * -(-len(data) // batch_size)
    # A bar only where stderr is a terminal, as run_episodes draws its own: under nohup the log gets the summary line.
    with tqdm(total=steps, desc="warm start", disable=None if progress else True, leave=False) as bar:
        for _ in range(config.epochs):
            order = list(range(len(data)))
            rng.shuffle(order)
            for first in range(0, len(order), batch_size):
                batch = collate([data[i] for i in order[first : first + batch_size]], pad)
                optimizer.zero_grad()
                device = next(model.parameters()).device
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    loss = accumulate_sft_loss(model, {k: v.to(device) for k, v in batch.items()},
                                               config.tokens_per_forward)
                optimizer.step()
                losses.append(loss)
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
    if gradient_checkpointing:
        model.gradient_checkpointing_disable()
    model.eval()
    return losses

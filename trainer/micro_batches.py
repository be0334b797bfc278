"""How a generation batch is cut into the micro-batches the loss runs on.

TRL shuffles the batch and cuts it into equal slices. agent-r1 takes one optimiser step per generation batch
(steps_per_generation equals the gradient accumulation), so the order of the rows does not change the gradient of
the "dapo", "grpo" and "dr_grpo" losses (for "bnpo", a micro-batch's token count weighs its rows, which TRL's
shuffle leaves to chance anyway). The order is chosen for speed instead:

- rows whose advantages are all zero go last, together. Without a KL term or a value loss such a row adds exactly
  nothing to the gradient, and a micro-batch made only of them is not computed at all (`contributes_nothing`).
  GRPO groups whose episodes all earn the same return are like this: 25 to 75% of the groups in the paper
  experiment (docs/experiments.md).
- the other rows are sorted by length, and each micro-batch is cut to its own longest row, so that no forward or
  backward pass is spent on padding. Dropping a padding column a whole micro-batch shares changes nothing: the
  prompt's are on the left, where every row's positions move together (rotary attention sees only distances),
  and the completion's are on the right, after every real token.
"""

from __future__ import annotations

from typing import Any

import torch


def zero_advantage_rows(advantages: torch.Tensor) -> torch.Tensor:
    """(B,) bool: the rows whose advantage is zero at every token ((B,) or (B, T) advantages)."""
    return advantages == 0 if advantages.dim() == 1 else (advantages == 0).all(dim=1)


def micro_batches(batch: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """`batch` (TRL's scored generation batch) cut into `count` equal micro-batches, ordered and trimmed as above."""
    size = batch["completion_ids"].size(0)
    if size % count:
        raise ValueError(f"a batch of {size} rows does not cut into {count} equal micro-batches")
    lengths = (batch["prompt_mask"].sum(1) + batch["completion_mask"].sum(1)).tolist()
    zero = zero_advantage_rows(batch["advantages"]).tolist()
    order = sorted(range(size), key=lambda row: (zero[row], lengths[row]))
    width, rows = batch["completion_ids"].size(1), size // count
    chunks = []
    for start in range(0, size, rows):
        index = torch.tensor(order[start:start + rows])
        chunks.append(_trimmed({key: _rows(value, index) for key, value in batch.items()}, width))
    return chunks


def contributes_nothing(inputs: dict[str, Any]) -> bool:
    """Whether every advantage of the micro-batch is zero (its policy-gradient loss, and that loss's gradient, are
    then exactly zero: the caller still checks that nothing else, a KL term or a value loss, is in the loss)."""
    return bool(zero_advantage_rows(inputs["advantages"]).all())


def _rows(value: Any, index: torch.Tensor) -> Any:
    if isinstance(value, torch.Tensor) and value.dim() >= 1:
        return value[index]
    if isinstance(value, list):
        return [value[i] for i in index.tolist()]
    return value  # a scalar, e.g. num_items_in_batch, holds for the whole batch


def _trimmed(chunk: dict[str, Any], width: int) -> dict[str, Any]:
    """The chunk without the padding columns all its rows share (left of the prompt, right of the completion)."""
    prompt_used = chunk["prompt_mask"].any(0).nonzero()
    first = int(prompt_used[0]) if len(prompt_used) else chunk["prompt_mask"].size(1)
    completion_used = chunk["completion_mask"].any(0).nonzero()
    last = int(completion_used[-1]) + 1 if len(completion_used) else 1
    out = {}
    for key, value in chunk.items():
        if key.startswith("prompt_") and isinstance(value, torch.Tensor) and value.dim() == 2:
            value = value[:, first:]
        elif isinstance(value, torch.Tensor) and value.dim() == 2 and value.size(1) == width:
            value = value[:, :last]  # every per-completion-token tensor: ids, masks, log-probs, advantages, values
        out[key] = value
    return out

"""Sampling the next token of a batch, with its log-probability under the temperature-scaled policy."""

from __future__ import annotations

import time

import torch
from transformers import LogitsProcessor


def sample_next(logits: torch.Tensor, temperature: float, top_p: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, logprobs) for logits of shape (batch, vocab); temperature 0 is greedy.

    The log-probability is under log_softmax(logits / T), what the trainer
    recomputes and vLLM reports, whatever the top-p cut. Sampling inverts the
    cumulative distribution (in float64, so the tail of a 49k vocabulary is not
    lost to rounding): torch.multinomial took 15 ms per step at batch 16 on the
    reference machine, this takes about 1 ms.
    """
    logits = logits.float()
    if temperature <= 0:
        tokens = logits.argmax(-1)
        return tokens, torch.log_softmax(logits, dim=-1).gather(1, tokens[:, None]).squeeze(1)
    logp = torch.log_softmax(logits / temperature, dim=-1)
    probs = logp.exp().double()
    order = None
    if top_p < 1:
        probs, order = probs.sort(dim=-1, descending=True)
        probs = probs.masked_fill(probs.cumsum(-1) - probs > top_p, 0)
    cdf = probs.cumsum(-1)
    # u < total, and side="right" picks the first entry whose cdf exceeds u: never a zero-probability token.
    u = torch.rand(len(cdf), 1, dtype=cdf.dtype, device=cdf.device) * cdf[:, -1:]
    tokens = torch.searchsorted(cdf, u, side="right").squeeze(1).clamp_(max=cdf.shape[1] - 1)
    if order is not None:
        tokens = order.gather(1, tokens[:, None]).squeeze(1)
    return tokens, logp.gather(1, tokens[:, None]).squeeze(1)


class TokenSampler(LogitsProcessor):
    """Samples inside transformers' `generate` (run it greedy) and records each token's log-probability.

    It returns scores on which only the chosen token is finite, so the greedy
    pick is the sample: generate's own sampling (softmax and torch.multinomial)
    costs more than the rest of a decode step's bookkeeping. It must be the last
    processor, which it is when passed as `logits_processor` to a greedy generate.
    """

    def __init__(self, temperature: float, top_p: float = 1.0) -> None:
        self.temperature, self.top_p = temperature, top_p
        self.steps: list[torch.Tensor] = []
        self.first_call: float | None = None  # perf_counter() when the prompt's forward pass had ended

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.first_call is None:
            self.first_call = time.perf_counter()
        tokens, logprobs = sample_next(scores, self.temperature, self.top_p)
        self.steps.append(logprobs)
        chosen = torch.full_like(scores, float("-inf"))
        return chosen.scatter_(1, tokens[:, None], 0.0)

    def logprobs(self, batch: int) -> torch.Tensor:
        """(batch, steps): the log-probability of each token sampled so far."""
        return torch.stack(self.steps, dim=1) if self.steps else torch.zeros(batch, 0)

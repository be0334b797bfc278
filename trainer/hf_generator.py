"""Generation with transformers `generate`: one left-padded batch, the KV cache, per-row stops."""

from __future__ import annotations

from typing import Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from agent_r1.trainer.generation import Sample, SamplingConfig, first_stop


class _SampledLogprobs(LogitsProcessor):
    """Records the log-probability of each sampled token under the temperature-scaled policy,
    log_softmax(logits / T): what the trainer recomputes, and what vLLM reports.

    generate runs custom processors before its sampling warpers, so the scores seen
    here are the model's logits. A call sees the previous step's chosen token as
    the last input id; only one step's log-softmax is kept in memory.
    """

    def __init__(self, temperature: float) -> None:
        self.temperature = temperature if temperature > 0 else 1.0
        self.previous: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._collect(input_ids[:, -1])
        self.previous = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        return scores

    def _collect(self, chosen: torch.Tensor) -> None:
        if self.previous is not None:
            self.steps.append(self.previous.gather(1, chosen[:, None]).squeeze(1))
            self.previous = None

    def finish(self, last_tokens: torch.Tensor) -> torch.Tensor:
        self._collect(last_tokens)
        return torch.stack(self.steps, dim=1) if self.steps else torch.zeros(len(last_tokens), 0)


class _StopStringsAndBudgets(StoppingCriteria):
    """Per row: done once its text holds a stop string or its own token budget is spent."""

    def __init__(self, tokenizer, prompt_length: int, stops: Sequence[str], budgets: Sequence[int]) -> None:
        self.tokenizer, self.start, self.stops, self.budgets = tokenizer, prompt_length, tuple(stops), list(budgets)
        self.done_at: list[int | None] = [None] * len(budgets)  # tokens generated when the row stopped
        self.by_stop: list[bool] = [False] * len(budgets)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.start
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for row in range(input_ids.shape[0]):
            if self.done_at[row] is not None:
                done[row] = True
                continue
            if self.stops:
                # Only the tail can hold a new stop: earlier steps checked the rest.
                tail = self.tokenizer.decode(input_ids[row, max(self.start, input_ids.shape[1] - 16):])
                if first_stop(tail, self.stops) >= 0:
                    self.done_at[row], self.by_stop[row], done[row] = generated, True, True
                    continue
            if generated >= self.budgets[row]:
                self.done_at[row], done[row] = generated, True
        return done


class TransformersGenerator:
    def __init__(self, model, tokenizer, *, device: str | None = None) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.device = device or next(model.parameters()).device
        self.eos_ids = set(self._eos_ids())

    def _eos_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
        return ids + ([self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else [])

    @torch.no_grad()
    def generate(self, prompts: Sequence[Sequence[int]], config: SamplingConfig, *, max_new_tokens: Sequence[int] | None = None) -> list[Sample]:
        if not prompts:
            return []
        budgets = [min(config.max_new_tokens, b) for b in (max_new_tokens or [config.max_new_tokens] * len(prompts))]
        if min(budgets) < 1:
            raise ValueError("every prompt needs a budget of at least one new token")
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else next(iter(self.eos_ids))
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
            attention[row, width - len(prompt):] = 1
        logprobs = _SampledLogprobs(config.temperature)
        stopper = _StopStringsAndBudgets(self.tokenizer, width, config.stop, budgets)
        sampling = config.temperature > 0
        sequences = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            max_new_tokens=max(budgets),
            do_sample=sampling,
            temperature=config.temperature if sampling else None,
            top_p=config.top_p if sampling else None,
            top_k=0,
            repetition_penalty=1.0,
            pad_token_id=pad,
            eos_token_id=sorted(self.eos_ids),
            logits_processor=LogitsProcessorList([logprobs]),
            stopping_criteria=StoppingCriteriaList([stopper]),
        )
        generated = sequences[:, width:].cpu()
        token_logprobs = logprobs.finish(sequences[:, -1]).cpu()
        samples = []
        for row in range(len(prompts)):
            ids = generated[row].tolist()
            length, reason = len(ids), "length"
            eos_at = next((i for i, t in enumerate(ids) if t in self.eos_ids), None)
            if stopper.done_at[row] is not None:
                length, reason = stopper.done_at[row], "stop" if stopper.by_stop[row] else "length"
            if eos_at is not None and eos_at + 1 <= length:
                length, reason = eos_at + 1, "eos"
            ids = ids[:length]
            samples.append(Sample(ids, token_logprobs[row, :length].tolist(), reason, self.tokenizer.decode(ids)))
        return samples

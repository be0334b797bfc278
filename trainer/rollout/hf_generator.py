"""Generation with transformers `generate`: left-padded batches, per-row stops, the KV cache kept across turns."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from agent_r1.trainer.rollout.generation import Sample, SamplingConfig, ends_turn
from agent_r1.trainer.rollout.kv_cache import GrowingCache
from agent_r1.trainer.rollout.phases import PhaseClock
from agent_r1.trainer.rollout.sampling import TokenSampler


def eos_token_ids(model, tokenizer) -> set[int]:
    """Every id that ends a turn: the generation config's (possibly several) and the tokenizer's."""
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


@functools.lru_cache(maxsize=8)
def _closing_tokens(tokenizer, stops: tuple[str, ...]) -> frozenset[int]:
    """The tokens whose text holds the last character of a stop string: only they can complete one."""
    finals = {stop[-1] for stop in stops}
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return frozenset(i for i, text in enumerate(texts) if any(c in text for c in finals))


class _StopStringsAndBudgets(StoppingCriteria):
    """Per row: done once its text holds a stop string or its own token budget is spent."""

    def __init__(self, tokenizer, prompt_length: int, stops: Sequence[str], budgets: Sequence[int]) -> None:
        self.tokenizer, self.start, self.stops, self.budgets = tokenizer, prompt_length, tuple(stops), list(budgets)
        self.closing = _closing_tokens(tokenizer, self.stops) if self.stops else frozenset()
        self.done_at: list[int | None] = [None] * len(budgets)  # tokens generated when the row stopped
        self.by_stop: list[bool] = [False] * len(budgets)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.start
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        last = input_ids[:, -1].tolist()
        for row in range(input_ids.shape[0]):
            if self.done_at[row] is not None:
                done[row] = True
                continue
            # Decoding is the slow part of a step: only a closing token can complete a stop.
            if last[row] in self.closing and ends_turn(self.tokenizer, input_ids[row, self.start:], self.stops):
                self.done_at[row], self.by_stop[row], done[row] = generated, True, True
                continue
            if generated >= self.budgets[row]:
                self.done_at[row], done[row] = generated, True
        return done


@dataclass
class _CachedRow:
    tokens: list[int]  # the real tokens whose keys and values are in the cache, in order
    mask: list[int]  # one entry per cache position: 1 for a real token, 0 for padding


class TransformersGenerator:
    """Batched generation with transformers, reusing the KV cache across turns.

    A multi-turn prompt is the previous prompt, the sampled turn and an
    observation. When every prompt of a call extends a row of the previous
    call, the previous KV cache is kept (rows selected, the new tokens of each
    row right-aligned behind padding that the attention mask hides), so only
    the new tokens are computed: the same prefix caching vLLM does. Otherwise
    the batch starts afresh.
    """

    def __init__(self, model, tokenizer, *, device: str | None = None, reuse_cache: bool = True,
                 clock: PhaseClock | None = None) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.clock = clock  # told the prefill's and the decoding's time, when given
        self.device = device or next(model.parameters()).device
        self.eos_ids = eos_token_ids(model, tokenizer)
        self.reuse_cache = reuse_cache
        self._cache = None
        self._rows: list[_CachedRow] = []
        self.cached_calls = 0  # calls that continued from the previous call's cache

    def reset_cache(self) -> None:
        """Forget the cached turn (needed after the weights change)."""
        self._cache, self._rows = None, []

    def _match_rows(self, prompts: Sequence[Sequence[int]]) -> list[int] | None:
        """For each prompt, the unused cached row it extends by at least one token; None if any has none."""
        if self._cache is None:
            return None
        used: set[int] = set()
        matches = []
        for prompt in prompts:
            for index, row in enumerate(self._rows):
                if index not in used and len(row.tokens) < len(prompt) and list(prompt[: len(row.tokens)]) == row.tokens:
                    used.add(index)
                    matches.append(index)
                    break
            else:
                return None
        return matches

    @torch.no_grad()
    def generate(self, prompts: Sequence[Sequence[int]], config: SamplingConfig, *, max_new_tokens: Sequence[int] | None = None) -> list[Sample]:
        if not prompts:
            return []
        budgets = [min(config.max_new_tokens, b) for b in (max_new_tokens or [config.max_new_tokens] * len(prompts))]
        if min(budgets) < 1:
            raise ValueError("every prompt needs a budget of at least one new token")
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else next(iter(self.eos_ids))
        matches = self._match_rows(prompts) if self.reuse_cache else None
        if matches is None:
            cache, old = GrowingCache(), [_CachedRow([], []) for _ in prompts]
        else:
            self.cached_calls += 1
            cache = self._cache
            cache.batch_select_indices(torch.tensor(matches, device=self.device))
            old = [self._rows[m] for m in matches]
        cached = len(old[0].mask)
        new = [list(p[len(row.tokens):]) for p, row in zip(prompts, old)]
        width = max(map(len, new))
        input_ids = torch.full((len(prompts), cached + width), pad, dtype=torch.long)
        attention = torch.zeros((len(prompts), cached + width), dtype=torch.long)
        for i, (row, tokens) in enumerate(zip(old, new)):
            attention[i, :cached] = torch.tensor(row.mask, dtype=torch.long)
            input_ids[i, cached + width - len(tokens):] = torch.tensor(tokens, dtype=torch.long)
            attention[i, cached + width - len(tokens):] = 1
        sampler = TokenSampler(config.temperature, config.top_p)
        stopper = _StopStringsAndBudgets(self.tokenizer, cached + width, config.stop, budgets)
        started = time.perf_counter()
        output = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            past_key_values=cache,
            max_new_tokens=max(budgets),
            min_new_tokens=max(budgets) if config.ignore_eos else None,  # masks EOS before the sampler sees it
            do_sample=False,  # the sampler picks the token; greedy then takes it
            temperature=None,
            top_p=None,
            top_k=None,
            repetition_penalty=1.0,
            pad_token_id=pad,
            eos_token_id=sorted(self.eos_ids),
            logits_processor=LogitsProcessorList([sampler]),
            stopping_criteria=StoppingCriteriaList([stopper]),
            return_dict_in_generate=True,
        )
        if self.clock is not None and sampler.first_call is not None:
            self.clock.add("prefill", sampler.first_call - started)
            self.clock.add("decode", time.perf_counter() - sampler.first_call)
        sequences = output.sequences
        generated = sequences[:, cached + width:].cpu()
        token_logprobs = sampler.logprobs(len(prompts)).cpu()
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
        self._remember(output.past_key_values, old, new, width, samples, generated.shape[1])
        return samples

    def _remember(self, cache, old: list[_CachedRow], new: list[list[int]], width: int, samples: list[Sample], steps: int) -> None:
        """Keeps the cache for the next turn: every step's token but the last was fed through the model."""
        fed = steps - 1
        rows = []
        for row, tokens, sample in zip(old, new, samples):
            real = min(len(sample.token_ids), fed)
            rows.append(_CachedRow(
                row.tokens + tokens + sample.token_ids[:real],
                row.mask + [0] * (width - len(tokens)) + [1] * len(tokens) + [1] * real + [0] * (fed - real),
            ))
        if self.reuse_cache and cache is not None and cache.get_seq_length() == len(rows[0].mask):
            self._cache, self._rows = cache, rows
        else:
            self.reset_cache()

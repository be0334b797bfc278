"""Continuous batching with transformers: episodes join and leave the decode batch between steps.

With turn-synchronous batches, a turn lasts as long as its longest row and the
rows that finished early wait. Here each episode's turn is a request: the
rows of the batch decode together, a row that finishes leaves (its keys and
values are kept for its next turn), and new requests (the next turns of
episodes whose environment has answered) are admitted in waves between
decode steps, computing only their new tokens.

Keys and values are stored after the rotary embedding, so a row's cache can
drop its padding and be re-padded elsewhere without changing its positions:
positions come from the attention mask, never from the layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable

import torch
from transformers import DynamicCache

from agent_r1.trainer.rollout.generation import Sample, SamplingConfig, ends_turn
from agent_r1.trainer.rollout.hf_generator import _closing_tokens, eos_token_ids
from agent_r1.trainer.rollout.sampling import sample_next


@dataclass
class _Stored:
    tokens: list[int]  # the tokens whose keys and values these are, in order
    keys: list[torch.Tensor]  # per layer: (heads, len(tokens), head_dim)
    values: list[torch.Tensor]


@dataclass
class _Row:
    key: Hashable
    prompt: list[int]
    budget: int
    generated: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: str | None = None


class ContinuousTransformersGenerator:
    """`submit` a turn, call `step` until it comes back finished; `drop` an episode when it ends.

    `admit_wave` queued turns (or an empty batch, or `admit_wait` steps of
    waiting) trigger an admission: admitting copies the batch's cache, so
    admitting one row at a time would cost more than it saves.
    """

    def __init__(self, model, tokenizer, *, admit_wave: int = 4, admit_wait: int = 8) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.config: SamplingConfig | None = None
        self.device = next(model.parameters()).device
        self.admit_wave, self.admit_wait = admit_wave, admit_wait
        self.eos_ids = eos_token_ids(model, tokenizer)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(self.eos_ids))
        self.closing: frozenset[int] = frozenset()
        self.queue: list[_Row] = []
        self.waited = 0
        self.rows: list[_Row] = []  # the batch; finished rows stay (dead) until the next compaction
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None  # (rows, cache length): 1 where a real token sits
        self.next_tokens: torch.Tensor | None = None  # sampled, not yet fed
        self.store: dict[Hashable, _Stored] = {}
        self.forward_passes = 0

    # ---- the interface the rollout engine uses -------------------------------
    def submit(self, key: Hashable, prompt: list[int], budget: int, config: SamplingConfig) -> None:
        """Queues one turn of episode `key`; all turns in flight share one sampling config."""
        if budget < 1:
            raise ValueError("a turn needs a budget of at least one token")
        if config != self.config:
            if self.busy:
                raise ValueError("the turns in flight were submitted with another sampling config")
            self.config = config
            self.closing = _closing_tokens(self.tokenizer, tuple(config.stop)) if config.stop else frozenset()
        self.queue.append(_Row(key, list(prompt), min(budget, config.max_new_tokens)))

    @property
    def busy(self) -> bool:
        return bool(self.queue) or any(r.finish_reason is None for r in self.rows)

    def drop(self, key: Hashable) -> None:
        self.store.pop(key, None)

    def abort(self) -> None:
        """Forgets every turn in flight and every stored episode (a rollout that failed)."""
        self.queue, self.rows, self.store, self.waited = [], [], {}, 0
        self.cache = self.mask = self.next_tokens = self.config = None

    @torch.no_grad()
    def step(self) -> list[tuple[Hashable, Sample]]:
        finished: list[_Row] = []
        alive = sum(r.finish_reason is None for r in self.rows)
        if self.queue and (not alive or len(self.queue) >= self.admit_wave or self.waited >= self.admit_wait):
            finished += self._admit()
            self.waited = 0
        elif self.queue:
            self.waited += 1
        if any(r.finish_reason is None for r in self.rows):
            finished += self._decode()
        return [(row.key, Sample(row.generated, row.logprobs, row.finish_reason, self.tokenizer.decode(row.generated)))
                for row in finished]

    # ---- mechanics ----------------------------------------------------------
    def _sample(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.ignore_eos:
            logits = logits.index_fill(-1, torch.tensor(sorted(self.eos_ids), device=logits.device), float("-inf"))
        return sample_next(logits, self.config.temperature, self.config.top_p)

    def _accept(self, row: _Row, token: int, logprob: float) -> bool:
        """Adds a sampled token; True when the row's turn is over."""
        row.generated.append(token)
        row.logprobs.append(logprob)
        if token in self.eos_ids:
            row.finish_reason = "eos"
        elif token in self.closing and ends_turn(self.tokenizer, row.generated, self.config.stop):
            row.finish_reason = "stop"
        elif len(row.generated) >= row.budget:
            row.finish_reason = "length"
        return row.finish_reason is not None

    def _forward(self, input_ids, attention_mask, cache):
        positions = (attention_mask.cumsum(1) - 1).clamp(min=0)[:, -input_ids.shape[1]:]
        self.forward_passes += 1
        output = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                            past_key_values=cache, use_cache=True, logits_to_keep=1)
        return output.logits[:, -1], output.past_key_values

    def _keep(self, row: _Row, cache: DynamicCache, mask: torch.Tensor, index: int) -> None:
        """Stores the row's keys and values (real positions only) for its next turn."""
        real = mask[index].nonzero().squeeze(1)
        self.store[row.key] = _Stored(
            row.prompt + row.generated[:-1],  # the last sampled token was never fed
            [layer.keys[index][:, real].clone() for layer in cache.layers],
            [layer.values[index][:, real].clone() for layer in cache.layers],
        )

    def _admit(self) -> list[_Row]:
        wave, self.queue = self.queue, []
        stored = []
        for row in wave:
            past = self.store.pop(row.key, None)
            fits = past is not None and len(past.tokens) < len(row.prompt) and row.prompt[: len(past.tokens)] == past.tokens
            stored.append(past if fits else None)
        past_len = max((len(s.tokens) for s in stored if s), default=0)
        new = [row.prompt[len(s.tokens):] if s else row.prompt for row, s in zip(wave, stored)]
        width = max(map(len, new))
        n = len(wave)
        input_ids = torch.full((n, width), self.pad, dtype=torch.long)
        mask = torch.zeros((n, past_len + width), dtype=torch.long)
        for i, (s, tokens) in enumerate(zip(stored, new)):
            input_ids[i, width - len(tokens):] = torch.tensor(tokens)
            mask[i, past_len + width - len(tokens):] = 1
            if s:
                mask[i, past_len - len(s.tokens):past_len] = 1
        cache = None
        if past_len:
            cache = DynamicCache()
            any_stored = next(s for s in stored if s)
            for layer in range(len(any_stored.keys)):
                keys, values = [], []
                empty = any_stored.keys[layer][:, :0]  # (heads, 0, head_dim): a row with nothing stored
                for s in stored:
                    k = s.keys[layer] if s else empty
                    v = s.values[layer] if s else empty
                    pad = past_len - k.shape[1]
                    keys.append(torch.nn.functional.pad(k, (0, 0, pad, 0)))
                    values.append(torch.nn.functional.pad(v, (0, 0, pad, 0)))
                cache.update(torch.stack(keys), torch.stack(values), layer)
        logits, cache = self._forward(input_ids.to(self.device), mask.to(self.device), cache)
        tokens, logprobs = self._sample(logits)
        finished, staying = [], []
        for i, row in enumerate(wave):
            if self._accept(row, int(tokens[i]), float(logprobs[i])):
                self._keep(row, cache, mask, i)
                finished.append(row)
            else:
                staying.append(i)
        if staying:
            index = torch.tensor(staying, device=self.device)
            cache.batch_select_indices(index)
            self._merge([wave[i] for i in staying], cache, mask[staying], tokens[staying])
        return finished

    def _compact(self) -> None:
        alive = [i for i, r in enumerate(self.rows) if r.finish_reason is None]
        if len(alive) == len(self.rows):
            return
        if not alive:
            self.rows, self.cache, self.mask, self.next_tokens = [], None, None, None
            return
        index = torch.tensor(alive, device=self.device)
        self.cache.batch_select_indices(index)
        self.rows = [self.rows[i] for i in alive]
        self.mask, self.next_tokens = self.mask[alive], self.next_tokens[alive]

    def _merge(self, rows: list[_Row], cache: DynamicCache, mask: torch.Tensor, next_tokens: torch.Tensor) -> None:
        self._compact()
        if self.cache is None:
            self.rows, self.cache, self.mask, self.next_tokens = rows, cache, mask, next_tokens
            return
        length = max(self.mask.shape[1], mask.shape[1])

        def left_pad(t: torch.Tensor, to: int) -> torch.Tensor:
            return torch.nn.functional.pad(t, (0, 0, to - t.shape[2], 0)) if t.shape[2] < to else t

        for mine, theirs in zip(self.cache.layers, cache.layers):
            mine.keys = torch.cat([left_pad(mine.keys, length), left_pad(theirs.keys, length)])
            mine.values = torch.cat([left_pad(mine.values, length), left_pad(theirs.values, length)])
        pad_mask = lambda m: torch.nn.functional.pad(m, (length - m.shape[1], 0))  # noqa: E731
        self.mask = torch.cat([pad_mask(self.mask), pad_mask(mask)])
        self.next_tokens = torch.cat([self.next_tokens, next_tokens])
        self.rows += rows

    def _decode(self) -> list[_Row]:
        alive = torch.tensor([r.finish_reason is None for r in self.rows], dtype=torch.long)
        mask = torch.cat([self.mask, alive[:, None].to(self.mask.device)], dim=1)
        logits, self.cache = self._forward(self.next_tokens[:, None].to(self.device), mask.to(self.device), self.cache)
        self.mask = mask
        tokens, logprobs = self._sample(logits)
        finished = []
        for i, row in enumerate(self.rows):
            if row.finish_reason is None and self._accept(row, int(tokens[i]), float(logprobs[i])):
                self._keep(row, self.cache, self.mask, i)
                finished.append(row)
        self.next_tokens = tokens
        if sum(r.finish_reason is not None for r in self.rows) * 4 >= len(self.rows):
            self._compact()  # dead rows cost compute every step; compacting costs a copy
        return finished

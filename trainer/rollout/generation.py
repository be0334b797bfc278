"""The generation protocol the rollout engine runs on: token ids in, sampled ids and log-probs out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class SamplingConfig:
    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0  # keep 1.0 for RL: the recorded log-probs ignore the top-p cut
    stop: tuple[str, ...] = ()  # a turn ends once its text contains one of these
    # EOS is never sampled, so every row runs to its budget (fixed-length generation, as benchmarks need);
    # log-probs are then under the distribution without EOS.
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.ignore_eos and self.stop:
            raise ValueError("ignore_eos runs every row to its budget: it takes no stop strings")


@dataclass(frozen=True)
class Sample:
    token_ids: list[int]
    logprobs: list[float]  # log-probability of each sampled token under log_softmax(logits / temperature)
    finish_reason: str  # "stop" (a stop string), "eos", or "length"
    text: str = field(default="", compare=False)  # the decoded tokens, special tokens kept


class Generator(Protocol):
    """Samples one continuation per prompt; prompts are lists of token ids of any lengths."""

    def generate(self, prompts: Sequence[Sequence[int]], config: SamplingConfig, *, max_new_tokens: Sequence[int] | None = None) -> list[Sample]:
        """`max_new_tokens`, when given, caps each prompt's budget below config.max_new_tokens."""
        ...


@runtime_checkable
class ContinuousGenerator(Protocol):
    """A generator driven turn by turn (continuous batching): the rollout engine submits an episode's next turn as
    soon as its env answers, while the other turns keep decoding. A generator with these methods gets that mode."""

    def submit(self, key: Hashable, prompt: list[int], budget: int, config: SamplingConfig) -> None:
        """Queues one turn of at most `budget` new tokens; `step` hands it back under `key`."""

    def step(self) -> list[tuple[Hashable, Sample]]:
        """Advances every queued turn a little; returns the turns that finished."""

    def drop(self, key: Hashable) -> None:
        """Forgets what is kept for `key` (its cached prefix): the episode is over."""

    def abort(self) -> None:
        """Cancels every turn in flight (a rollout failed): none of them comes back from a later `step`."""

    @property
    def busy(self) -> bool:
        """Whether a turn is in flight."""


# A stop string is at most this many tokens long: only the tail of a turn can hold a new one.
STOP_TAIL_TOKENS = 16


def ends_turn(tokenizer, token_ids: Sequence[int], stops: Sequence[str]) -> bool:
    """Whether the tail of `token_ids` holds a stop string (call it only when the last token can close one)."""
    return first_stop(tokenizer.decode(token_ids[-STOP_TAIL_TOKENS:]), stops) >= 0


def first_stop(text: str, stops: Sequence[str]) -> int:
    """The end offset of the earliest stop string in `text`, or -1."""
    ends = [text.find(s) + len(s) for s in stops if s in text]
    return min(ends) if ends else -1

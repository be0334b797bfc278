"""A finished episode as the trainer consumes it: token ids, masks, log-probs and rewards."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Trajectory:
    """One multi-turn episode, token in, token out.

    `response_ids` holds every token after the prompt: the model's turns exactly as
    sampled (loss_mask 1) and the observations between them as the chat template
    renders them (loss_mask 0). `turn_spans[i]` is the [start, end) of model turn i
    in response_ids; its reward sits in `token_rewards` at end - 1.
    """

    env_id: str
    seed: int
    group: int  # episodes of one group share seed and task (GRPO)
    task_id: str | None
    prompt_ids: list[int]
    response_ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)  # sampled log-probs; 0.0 on observation tokens
    turn_spans: list[tuple[int, int]] = field(default_factory=list)
    turn_rewards: list[float] = field(default_factory=list)
    token_rewards: list[float] = field(default_factory=list)
    reward_components: list[dict[str, float]] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)  # per turn: stop, eos or length
    metrics: dict[str, Any] = field(default_factory=dict)
    terminated: bool = False
    truncated: bool = False
    truncation: str | None = None  # env, max_turns, max_total_tokens, step_timeout, step_error
    messages: list[dict[str, str]] = field(default_factory=list)
    outcome: dict[str, Any] = field(default_factory=dict)  # the env's final word: prediction, gold_answer

    @property
    def episode_return(self) -> float:
        return float(sum(self.turn_rewards))

    @property
    def num_model_tokens(self) -> int:
        return sum(self.loss_mask)

    @property
    def num_tokens(self) -> int:
        return len(self.prompt_ids) + len(self.response_ids)

    def append_model_turn(self, token_ids: list[int], logprobs: list[float], finish_reason: str) -> None:
        start = len(self.response_ids)
        self.response_ids += token_ids
        self.loss_mask += [1] * len(token_ids)
        self.logprobs += logprobs
        self.token_rewards += [0.0] * len(token_ids)
        self.turn_spans.append((start, len(self.response_ids)))
        self.finish_reasons.append(finish_reason)

    def reward_last_turn(self, reward: float, components: dict[str, float]) -> None:
        start, end = self.turn_spans[-1]
        if end > start:
            self.token_rewards[end - 1] += reward
        self.turn_rewards.append(reward)
        self.reward_components.append(dict(components))

    def append_observation(self, token_ids: list[int]) -> None:
        self.response_ids += token_ids
        self.loss_mask += [0] * len(token_ids)
        self.logprobs += [0.0] * len(token_ids)
        self.token_rewards += [0.0] * len(token_ids)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["episode_return"] = self.episode_return
        return data

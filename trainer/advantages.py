"""Advantage estimators over multi-turn trajectories.

Each returns one tensor per trajectory, aligned with `response_ids`, zero on
observation tokens (loss_mask 0): the tokens the environment wrote are never
credited or blamed. The set follows the Agent-R1 paper (GRPO, RLOO,
REINFORCE++, REINFORCE++ with baseline), plus a turn-level estimator that
uses the per-turn process rewards, and GAE for PPO.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Sequence

import torch

from agent_r1.trainer.rollout.trajectory import Trajectory

EPS = 1e-6


def _mask(t: Trajectory) -> torch.Tensor:
    return torch.tensor(t.loss_mask, dtype=torch.float32)


def _groups(trajectories: Sequence[Trajectory]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for index, t in enumerate(trajectories):
        groups[t.group].append(index)
    return groups


def _broadcast(trajectories: Sequence[Trajectory], scores: Sequence[float]) -> list[torch.Tensor]:
    """One score per episode, on every model token of that episode."""
    return [_mask(t) * float(score) for t, score in zip(trajectories, scores)]


def grpo(trajectories: Sequence[Trajectory], *, scale_by_std: bool = True) -> list[torch.Tensor]:
    """Episode return minus its group's mean, divided by the group's std (scale_by_std=False: Dr. GRPO)."""
    returns = torch.tensor([t.episode_return for t in trajectories])
    scores = torch.zeros_like(returns)
    for members in _groups(trajectories).values():
        group = returns[members]
        centred = group - group.mean()
        scores[members] = centred / (group.std(unbiased=False) + EPS) if scale_by_std else centred
    return _broadcast(trajectories, scores.tolist())


def rloo(trajectories: Sequence[Trajectory]) -> list[torch.Tensor]:
    """Episode return minus the mean return of the other members of its group (leave one out)."""
    returns = torch.tensor([t.episode_return for t in trajectories])
    scores = torch.zeros_like(returns)
    for members in _groups(trajectories).values():
        group = returns[members]
        if len(members) > 1:
            scores[members] = group - (group.sum() - group) / (len(members) - 1)
    return _broadcast(trajectories, scores.tolist())


def _returns_to_go(t: Trajectory, gamma: float = 1.0) -> torch.Tensor:
    """Per response token: the rewards of its own turn and every later turn, discounted by gamma per model token
    (observation tokens are no step of the model's, as in gae); zero off the model's tokens."""
    rewards = torch.tensor(t.token_rewards, dtype=torch.float32)
    if gamma == 1.0:
        return rewards.flip(0).cumsum(0).flip(0)
    positions = _mask(t).nonzero().squeeze(1)
    out = torch.zeros_like(rewards)
    out[positions] = _discounted_sums(rewards[positions].tolist(), gamma)
    return out


# The sums a batch's mean and standard deviation are made of: (count, sum, sum of squares). Data-parallel training
# adds every process's sums (AgentTrainer passes accelerate's reduce), so that a batch is normalised as a whole.
SumAcross = Callable[[torch.Tensor], torch.Tensor]


def moments(flat: torch.Tensor, sum_across: SumAcross | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of `flat`, over every process's values when `sum_across` adds a tensor across processes."""
    flat = flat.double()
    sums = torch.stack([torch.tensor(float(flat.numel()), dtype=torch.float64), flat.sum(), (flat * flat).sum()])
    if sum_across is not None:
        sums = sum_across(sums)
    count, total, squares = sums.tolist()
    if count == 0:
        return torch.tensor(0.0), torch.tensor(1.0)
    mean = total / count
    return torch.tensor(mean, dtype=torch.float32), torch.tensor(max(0.0, squares / count - mean * mean) ** 0.5, dtype=torch.float32)


def whiten(values: list[torch.Tensor], masks: list[torch.Tensor], sum_across: SumAcross | None = None) -> list[torch.Tensor]:
    """Normalised over every masked token of the batch (REINFORCE++'s global normalisation, PPO's whitening)."""
    flat = torch.cat([v[m.bool()] for v, m in zip(values, masks)]) if values else torch.zeros(0)
    mean, std = moments(flat, sum_across)
    return [(v - mean) / (std + EPS) * m for v, m in zip(values, masks)]


def reinforce_pp(trajectories: Sequence[Trajectory], sum_across: SumAcross | None = None, gamma: float = 1.0
                 ) -> list[torch.Tensor]:
    """REINFORCE++: each token's return to go, normalised over the whole batch (no critic, no groups)."""
    return whiten([_returns_to_go(t, gamma) for t in trajectories], [_mask(t) for t in trajectories], sum_across)


def reinforce_pp_baseline(trajectories: Sequence[Trajectory], sum_across: SumAcross | None = None, gamma: float = 1.0
                          ) -> list[torch.Tensor]:
    """REINFORCE++ with baseline: the return to go minus the group's mean episode return, then normalised."""
    group_mean = {}
    for group, members in _groups(trajectories).items():
        group_mean[group] = sum(trajectories[i].episode_return for i in members) / len(members)
    return whiten([_returns_to_go(t, gamma) - group_mean[t.group] for t in trajectories], [_mask(t) for t in trajectories],
                  sum_across)


def turn_level(trajectories: Sequence[Trajectory], gamma: float = 1.0) -> list[torch.Tensor]:
    """Each turn credited with its own and later rewards (process rewards count), discounted by gamma per turn,
    normalised over all turns of its group; every token of the turn gets the turn's advantage."""
    turn_returns = [_discounted_sums(t.turn_rewards, gamma) for t in trajectories]
    advantages = [torch.zeros(len(t.response_ids)) for t in trajectories]
    for members in _groups(trajectories).values():
        pooled = torch.cat([turn_returns[i] for i in members])
        if pooled.numel() == 0:
            continue
        mean, std = pooled.mean(), pooled.std(unbiased=False)
        for i in members:
            t = trajectories[i]
            for (start, end), value in zip(t.turn_spans, turn_returns[i]):
                advantages[i][start:end] = (value - mean) / (std + EPS)
    return [a * _mask(t) for a, t in zip(advantages, trajectories)]


def _discounted_sums(rewards: Sequence[float], gamma: float) -> torch.Tensor:
    out, running = torch.zeros(len(rewards)), 0.0
    for i in reversed(range(len(rewards))):
        running = float(rewards[i]) + gamma * running
        out[i] = running
    return out


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, *, gamma: float = 1.0, lam: float = 0.95
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the model's tokens only.

    Observation tokens (mask 0) are skipped: the step after a model token is the
    next model token, whatever the environment wrote in between. Rewards sit on
    the last token of each turn. Returns (advantages, returns), zero off the mask.
    """
    positions = mask.nonzero().squeeze(1)
    advantages = torch.zeros_like(values)
    following, running = 0.0, 0.0
    for position in reversed(positions.tolist()):
        delta = rewards[position] + gamma * following - values[position]
        running = delta + gamma * lam * running
        advantages[position] = running
        following = values[position]
    return advantages, (advantages + values) * mask


# The estimators that normalise over the whole batch: they take `sum_across`, to see every process's episodes.
WHOLE_BATCH = ("reinforce_pp", "reinforce_pp_baseline")

ESTIMATORS: dict[str, Callable[..., list[torch.Tensor]]] = {
    "grpo": grpo,
    "rloo": rloo,
    "reinforce_pp": reinforce_pp,
    "reinforce_pp_baseline": reinforce_pp_baseline,
    "turn_level": turn_level,
}

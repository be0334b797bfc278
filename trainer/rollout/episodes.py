"""Which episodes an evaluation poses, and running them: one rule and one runner for `agent-r1 eval`,
`agent-r1 bench` and a training run's held-out evaluation.

Episode i resets with seed i and, for an env whose tasks are an ordered list (a dataset env's questions,
`env.unwrapped.records`), with options {"index": i}: question i of the file. So no random draw decides what
is evaluated: every evaluation of a file poses the same questions, in file order, whichever command runs it,
and two systems evaluated on episodes 0..N-1 answered the same questions. A procedural env (SynthHop) poses
the task of seed i.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import gymnasium as gym

from agent_r1.trainer.rollout.trajectory import Trajectory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpisodePlan:
    """Episode k resets with seeds[k] and options[k] (None: the seed alone picks the task)."""

    seeds: tuple[int, ...]
    options: tuple[dict[str, Any] | None, ...]

    def __len__(self) -> int:
        return len(self.seeds)


def task_count(env: gym.Env) -> int | None:
    """How many ordered tasks the env holds (a dataset env's questions); None for a procedural env."""
    records = getattr(env.unwrapped, "records", None)
    return None if records is None else len(records)


def plan_episodes(env: gym.Env, indices: Iterable[int], *, cap: bool = False) -> EpisodePlan:
    """The episodes `indices` of `env`. An index past the env's last question is a ValueError naming the
    count, or, with `cap`, dropped with a log line (an evaluation asked for more questions than the file holds)."""
    indices = list(indices)
    count = task_count(env)
    if count is None:
        return EpisodePlan(tuple(indices), (None,) * len(indices))
    past = [i for i in indices if not 0 <= i < count]
    if past and not cap:
        raise ValueError(f"{env.spec.id if env.spec else type(env.unwrapped).__name__} holds {count} questions "
                         f"(indices 0 to {count - 1}); episode {past[0]} was asked for")
    if past:
        logger.info("%s holds %d questions: evaluating %d episodes, not %d", getattr(env.unwrapped, "data_file", env),
                    count, len(indices) - len(past), len(indices))
    kept = [i for i in indices if 0 <= i < count]
    return EpisodePlan(tuple(kept), tuple({"index": i} for i in kept))


def run_episodes(engine, plan: EpisodePlan, *, batch_size: int = 16, progress: bool = True, desc: str | None = None,
                 rollout: Callable[..., list[Trajectory]] | None = None) -> list[Trajectory]:
    """One episode per entry of `plan`, `batch_size` at a time through the rollout engine, in plan order.
    `rollout(seeds, options)` replaces `engine.rollout` (the trainer wraps it to switch the model to eval mode)."""
    from tqdm.auto import tqdm

    rollout = rollout or (lambda seeds, options: engine.rollout(seeds, options=options))
    trajectories: list[Trajectory] = []
    # A bar only where stderr is a terminal (tqdm's disable=None): under nohup a training run's held-out evaluations
    # would leave every redraw in the log.
    with tqdm(total=len(plan), desc=desc or f"episodes of {engine.env_id}", disable=None if progress else True,
              leave=False) as bar:
        for first in range(0, len(plan), batch_size):
            batch = slice(first, first + batch_size)
            trajectories += rollout(list(plan.seeds[batch]), list(plan.options[batch]))
            bar.update(len(trajectories) - bar.n)
    return trajectories


def episode_options(env: gym.Env, index: int) -> dict[str, int] | None:
    """reset's options of episode `index` (see plan_episodes), for code that resets envs itself."""
    return plan_episodes(env, [index]).options[0]

"""Which data a run trains on and which it evaluates on, kept apart.

A dataset env (a MultiHopQAEnv: HotpotQA, 2WikiMultihopQA, MuSiQue) poses a
random question of its file at each reset, so training and evaluation on one
file would share questions. A run therefore trains on the training split and
evaluates on the dev split (each overridable: `env_kwargs`, `eval_env_kwargs`),
refuses two files that share questions, and evaluates question by question in
file order: the held-out set is fixed, the same before and after RL and in
every run. A procedural env (SynthHop) has one task per seed: training and
evaluation take disjoint seed ranges (`train_seed`, `eval_seed`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from agent_r1.envs.datasets import MultiHopQAEnv
from agent_r1.trainer.train_config import TrainConfig

logger = logging.getLogger(__name__)


class EnvArgumentError(ValueError):
    """The run's env cannot be made from its settings (an argument it does not take, a bad value, missing data,
    training and evaluation data that share questions): found before the model loads rather than at the first rollout."""


@dataclass(frozen=True)
class HeldOut:
    """The held-out evaluation: episode i resets with seeds[i] and options[i] (None: the seed alone picks the task)."""

    seeds: tuple[int, ...]
    options: tuple[dict[str, Any] | None, ...]

    def __len__(self) -> int:
        return len(self.seeds)


def is_dataset_env(env_id: str) -> bool:
    """Whether the id makes a MultiHopQAEnv, read from its registration without loading any data."""
    from gymnasium.envs.registration import load_env_creator

    entry_point = gym.spec(env_id).entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    return isinstance(creator, type) and issubclass(creator, MultiHopQAEnv)


def train_env_kwargs(config: TrainConfig) -> dict[str, Any]:
    """The env arguments of training (rollouts and warm start): a dataset env's training split unless told otherwise."""
    split = {"split": "train"} if is_dataset_env(config.env) and "data_path" not in config.env_kwargs else {}
    return {"reward": config.reward_preset, **split, **config.env_kwargs}


def eval_env_kwargs(config: TrainConfig) -> dict[str, Any]:
    """The env arguments of held-out evaluation: env_kwargs, then a dataset env's dev split, then eval_env_kwargs.
    A training data_path is inherited on purpose: with no evaluation file of its own, the run is refused (see
    check_envs) rather than quietly evaluated on some other file."""
    split = {"split": "dev"} if is_dataset_env(config.env) else {}
    return {"reward": config.reward_preset, **config.env_kwargs, **split, **config.eval_env_kwargs}


def check_envs(config: TrainConfig) -> HeldOut:
    """Makes the training and the evaluation env once, as the rollouts will (the dataset envs cache what they
    load, so it is not wasted), refuses data they share, and returns the held-out episodes."""
    train_env = _make(config.env, train_env_kwargs(config), "training", "env_kwargs", config.env_kwargs)
    eval_env = _make(config.env, eval_env_kwargs(config), "held-out evaluation", "eval_env_kwargs", config.eval_env_kwargs)
    try:
        _check_apart(train_env.unwrapped, eval_env.unwrapped)
        return held_out(config, eval_env.unwrapped)
    finally:
        train_env.close()
        eval_env.close()


def _make(env_id: str, kwargs: dict[str, Any], role: str, name: str, given: dict[str, Any]) -> gym.Env:
    try:
        return gym.make(env_id, **kwargs)
    except (TypeError, ValueError, FileNotFoundError, gym.error.Error) as exc:
        raise EnvArgumentError(f"{env_id} cannot be made for {role} with {name} {given} "
                               f"and reward preset {kwargs['reward']!r}: {exc}") from None


def _check_apart(train: gym.Env, held_out_env: gym.Env) -> None:
    """A dataset run whose evaluation questions could be drawn for training is refused: its held-out EM would not be."""
    if not (isinstance(train, MultiHopQAEnv) and isinstance(held_out_env, MultiHopQAEnv)):
        return
    remedy = ("give held-out evaluation a file of its own with --eval-env-arg data_path=DEV_FILE "
              "(eval_env_kwargs; a data_path in env_kwargs serves both unless overridden)")
    if train.data_file == held_out_env.data_file:
        raise EnvArgumentError(f"training and held-out evaluation would both read {train.data_file}, so they would share "
                               f"questions: {remedy}")
    shared = {r.id for r in train.records} & {r.id for r in held_out_env.records}
    if shared:
        raise EnvArgumentError(f"{len(shared)} questions of the evaluation file {held_out_env.data_file} are in the training "
                               f"file {train.data_file} too (e.g. {min(shared)!r}): {remedy}")


def held_out(config: TrainConfig, env: gym.Env) -> HeldOut:
    """Questions 0, 1, ... of a dataset env's evaluation file, in order (no random draw: every evaluation of every
    run poses the same questions); seeds eval_seed, eval_seed + 1, ... of any other env."""
    count = config.eval_episodes
    seeds = range(config.eval_seed, config.eval_seed + count)
    if not isinstance(env, MultiHopQAEnv):
        return HeldOut(tuple(seeds), (None,) * count)
    if count > len(env.records):
        logger.info("held-out evaluation: %s holds %d questions, fewer than eval_episodes=%d; evaluating on all of them",
                    env.data_file, len(env.records), count)
        count = len(env.records)
    return HeldOut(tuple(seeds[:count]), tuple({"index": i} for i in range(count)))

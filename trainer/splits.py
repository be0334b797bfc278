"""Which data a run trains on and which it evaluates on, kept apart.

A dataset env (a MultiHopQAEnv: HotpotQA, 2WikiMultihopQA, MuSiQue) poses a
random question of its file at each reset, so training and evaluation on one
file would share questions. A run therefore trains on the training split and
evaluates on the dev split (each overridable: `env_kwargs`, `eval_env_kwargs`),
refuses two files that share questions, and evaluates question by question in
file order: the held-out set is fixed, the same before and after RL and in
every run. A procedural env (SynthHop) has one task per seed: training and
evaluation take disjoint seed ranges (`train_seed`, `eval_seed`).

A run may train on a mixture of envs (`env = "A,B"`, one AgentR1/Mixture-v0
whose member each GRPO group draws) and evaluate on several (`eval_envs`, each
reported on its own); every env's arguments are the shared ones of
`env_kwargs` / `eval_env_kwargs` and those under its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from agent_r1.envs.datasets import MultiHopQAEnv
from agent_r1.envs.registration import unknown_env_ids
from agent_r1.trainer.rollout.episodes import EpisodePlan, plan_episodes
from agent_r1.trainer.train_config import TrainConfig, env_list


class EnvArgumentError(ValueError):
    """The run's env cannot be made from its settings (an argument it does not take, a bad value, missing data,
    training and evaluation data that share questions): found before the model loads rather than at the first rollout."""


MIXTURE = "AgentR1/Mixture-v0"


@dataclass(frozen=True)
class EvalEnv:
    """One env of the held-out evaluation: its id, its arguments and its episodes."""

    env_id: str
    kwargs: dict[str, Any]
    held_out: EpisodePlan


def is_dataset_env(env_id: str) -> bool:
    """Whether the id makes a MultiHopQAEnv, read from its registration without loading any data."""
    from gymnasium.envs.registration import load_env_creator

    entry_point = gym.spec(env_id).entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    return isinstance(creator, type) and issubclass(creator, MultiHopQAEnv)


def train_env_ids(config: TrainConfig) -> list[str]:
    return [env_id for env_id, _ in env_list(config.env)]


def eval_env_ids(config: TrainConfig) -> list[str]:
    return [env_id for env_id, _ in env_list(config.eval_envs, allow_empty=True, weights=False)] or train_env_ids(config)


def _own(kwargs: dict[str, Any], env_id: str, run_envs: list[str], name: str) -> dict[str, Any]:
    """The arguments `kwargs` gives one env: the shared ones, then those under the env's id (see TrainConfig)."""
    for key, value in kwargs.items():
        if ("/" in key or ":" in key or key in gym.registry) and key not in run_envs:
            raise EnvArgumentError(f"{name} has arguments for {key}, which this run neither trains nor evaluates on "
                                   f"({', '.join(run_envs)})")
        if key in run_envs and not isinstance(value, dict):
            raise EnvArgumentError(f"{name}[{key!r}] holds that env's own arguments as a dict, got {value!r}")
    shared = {k: v for k, v in kwargs.items() if k not in run_envs}
    return {**shared, **kwargs.get(env_id, {})}


def _run_envs(config: TrainConfig) -> list[str]:
    return list(dict.fromkeys([*train_env_ids(config), *eval_env_ids(config)]))


def train_envs(config: TrainConfig) -> list[tuple[str, dict[str, Any], float]]:
    """(id, arguments, weight) of each training env: a dataset env's training split unless told otherwise."""
    members = []
    for env_id, weight in env_list(config.env):
        own = _own(config.env_kwargs, env_id, _run_envs(config), "env_kwargs")
        split = {"split": "train"} if is_dataset_env(env_id) and "data_path" not in own else {}
        members.append((env_id, {"reward": config.reward_preset, **split, **own}, weight))
    return members


def rollout_env(config: TrainConfig) -> tuple[str, dict[str, Any]]:
    """The env id and arguments the rollouts and the warm start make: the training env, or a mixture of them."""
    members = train_envs(config)
    if len(members) == 1:
        return members[0][0], members[0][1]
    return MIXTURE, {"members": [list(member) for member in members]}


def eval_envs(config: TrainConfig) -> list[tuple[str, dict[str, Any]]]:
    """(id, arguments) of each held-out env: env_kwargs, then a dataset env's dev split, then eval_env_kwargs.
    A training data_path is inherited on purpose: with no evaluation file of its own, the run is refused (see
    check_envs) rather than quietly evaluated on some other file."""
    run_envs = _run_envs(config)
    result = []
    for env_id in eval_env_ids(config):
        split = {"split": "dev"} if is_dataset_env(env_id) else {}
        result.append((env_id, {"reward": config.reward_preset, **_own(config.env_kwargs, env_id, run_envs, "env_kwargs"),
                                **split, **_own(config.eval_env_kwargs, env_id, run_envs, "eval_env_kwargs")}))
    return result


def check_envs(config: TrainConfig) -> tuple[EvalEnv, ...]:
    """Makes each training and evaluation env once, as the rollouts will (the dataset envs cache what they load, so
    it is not wasted), refuses data they share, and returns the held-out envs and their episodes."""
    if unknown := unknown_env_ids(_run_envs(config)):
        raise EnvArgumentError(f"unknown env(s) {', '.join(unknown)}")
    made = []
    try:
        training = []
        for env_id, kwargs, _ in train_envs(config):
            made.append(_make(env_id, kwargs, "training", "env_kwargs", config.env_kwargs))
            training.append(made[-1].unwrapped)
        result = []
        for env_id, kwargs in eval_envs(config):
            made.append(_make(env_id, kwargs, "held-out evaluation", "eval_env_kwargs", config.eval_env_kwargs))
            for train in training:
                _check_apart(train, made[-1].unwrapped)
            result.append(EvalEnv(env_id, kwargs, held_out(config, made[-1].unwrapped)))
        return tuple(result)
    finally:
        for env in made:
            env.close()


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
    if train.dataset != held_out_env.dataset:
        return
    remedy = ("give held-out evaluation a file of its own with --eval-env-arg data_path=DEV_FILE "
              "(eval_env_kwargs; a data_path in env_kwargs serves both unless overridden; ENV_ID:data_path=DEV_FILE "
              "for one env of several)")
    if train.data_file == held_out_env.data_file:
        raise EnvArgumentError(f"training and held-out evaluation would both read {train.data_file}, so they would share "
                               f"questions: {remedy}")
    shared = {r.id for r in train.records} & {r.id for r in held_out_env.records}
    if shared:
        raise EnvArgumentError(f"{len(shared)} questions of the evaluation file {held_out_env.data_file} are in the training "
                               f"file {train.data_file} too (e.g. {min(shared)!r}): {remedy}")


def held_out(config: TrainConfig, env: gym.Env) -> EpisodePlan:
    """Episodes eval_seed, eval_seed + 1, ... (see trainer/rollout/episodes.py): a dataset env's questions in file order,
    as many as it holds at most (no random draw: every evaluation of every run poses the same questions)."""
    return plan_episodes(env, range(config.eval_seed, config.eval_seed + config.eval_episodes), cap=True)

"""The rollout engine: a policy and N environments in, training-ready trajectories out.

Every active episode generates in one batch; episodes leave the batch as they
finish. Environment steps run in a thread pool, each with a timeout. Tokens are
never re-tokenized: the model's tokens are kept as sampled, and each
observation is rendered by the chat template as a suffix of the conversation,
tokenized once and appended. A template that re-renders earlier turns
differently (e.g. strips earlier reasoning) would break that contract; it is
detected and reported.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import gymnasium as gym

from agent_r1.envs.actions import STOP_STRINGS, ToolCallParser
from agent_r1.trainer.rollout.generation import ContinuousGenerator, Generator, Sample, SamplingConfig
from agent_r1.trainer.rollout.phases import PhaseClock
from agent_r1.trainer.rollout.trajectory import Trajectory

logger = logging.getLogger(__name__)


class ChatTemplateError(RuntimeError):
    """The chat template does not keep earlier turns unchanged when a turn is added."""


@dataclass(frozen=True)
class RolloutConfig:
    max_turns: int = 8  # the engine's own cap; each env also has its turn budget
    max_tokens_per_turn: int = 128
    max_total_tokens: int = 2048  # prompt and response together
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = STOP_STRINGS
    step_timeout: float = 30.0  # seconds for one env.step

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(self.max_tokens_per_turn, self.temperature, self.top_p, self.stop)


class _Episode:
    def __init__(self, env: gym.Env, trajectory: Trajectory, messages: list[dict], rendered: str,
                 tools: list[dict] | None) -> None:
        self.env, self.trajectory, self.rendered, self.tools = env, trajectory, rendered, tools
        # The conversation as the model reads it, built from what reset and step return (envs/contract.py), so
        # that a wrapper changing observations changes the model's tokens.
        self.messages = messages
        self.ids = list(trajectory.prompt_ids)
        self.done = False

    def finish(self, reason: str | None, *, terminated: bool = False, metrics: dict | None = None) -> None:
        self.done = True
        self.trajectory.terminated = terminated
        self.trajectory.truncated = not terminated
        self.trajectory.truncation = None if terminated else reason
        self.trajectory.metrics = metrics or {"em": 0.0, "f1": 0.0, "answered": False}
        self.trajectory.metrics.setdefault("turns", len(self.trajectory.turn_spans))
        self.trajectory.messages = [dict(m) for m in self.messages]


class RolloutEngine:
    def __init__(
        self,
        generator: Generator,
        tokenizer,
        env_id: str,
        *,
        env_kwargs: dict[str, Any] | None = None,
        config: RolloutConfig = RolloutConfig(),
        env_factory: Callable[[], gym.Env] | None = None,
        clock: PhaseClock | None = None,
    ) -> None:
        self.generator, self.tokenizer, self.env_id, self.config = generator, tokenizer, env_id, config
        self.clock = clock or PhaseClock()  # the time spent generating and waiting for env steps
        self.env_factory = env_factory or (lambda: gym.make(env_id, **(env_kwargs or {})))
        self._envs: list[gym.Env] = []
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._pool_has_stuck_worker = False

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for env in self._envs:
            env.close()

    def _render(self, messages: list[dict], tools: list[dict] | None) -> str:
        return self.tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _start(self, seeds: Sequence[int], group_size: int, options: Sequence[dict | None] | None = None) -> list[_Episode]:
        count = len(seeds) * group_size
        while len(self._envs) < count:
            self._envs.append(self.env_factory())
        if self._pool is None or self._pool_size < count or self._pool_has_stuck_worker:
            # A worker stuck in a timed-out step never comes back: give new steps a fresh pool.
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._pool_size = max(4, count)
            self._pool = ThreadPoolExecutor(max_workers=self._pool_size, thread_name_prefix="env")
            self._pool_has_stuck_worker = False
        options = list(options) if options is not None else [None] * len(seeds)
        if len(options) != len(seeds):
            raise ValueError(f"options has {len(options)} entries for {len(seeds)} seeds")
        plan = [(seed, group) for group, seed in enumerate(seeds) for _ in range(group_size)]
        resets = [self._pool.submit(env.reset, seed=seed, options=options[group]) for env, (seed, group) in zip(self._envs, plan)]
        episodes = []
        for env, (seed, group), future in zip(self._envs, plan, resets):
            statement, info = future.result()
            unwrapped = env.unwrapped
            tools = unwrapped.tool_schemas() if isinstance(unwrapped.parser, ToolCallParser) else None
            # The statement reset returns is the conversation's last message; a system prompt may come before it.
            messages = [*unwrapped.messages[:-1], {"role": "user", "content": _text(statement, "reset")}]
            rendered = self._render(messages, tools)
            trajectory = Trajectory(self.env_id, seed, group, info.get("task_id"), self._encode(rendered))
            episodes.append(_Episode(env, trajectory, messages, rendered, tools))
        return episodes

    def rollout(self, seeds: Sequence[int], group_size: int = 1, *, teacher: Callable[[gym.Env], str] | None = None,
                options: Sequence[dict | None] | None = None) -> list[Trajectory]:
        """Runs len(seeds) x group_size episodes; the members of a group reset with the same seed
        (and `options[i]`, e.g. {"index": i} to pick question i of a dataset env).

        With `teacher`, its action (e.g. `env.unwrapped.oracle_action()`) is written instead of
        sampling: the same token contract, for supervised warm-start data (log-probs are 0).
        """
        if group_size < 1 or not seeds:
            raise ValueError("rollout needs at least one seed and a group size of at least 1")
        episodes = self._start(seeds, group_size, options)
        for episode in episodes:
            self._check_budget(episode)
        if teacher is not None:
            self._run_in_turns(episodes, teacher)
        elif isinstance(self.generator, ContinuousGenerator):
            self._run_continuous(episodes)
        else:
            self._run_in_turns(episodes)
        return [e.trajectory for e in episodes]

    def _budget(self, episode: _Episode) -> int:
        return min(self.config.max_tokens_per_turn, self.config.max_total_tokens - len(episode.ids))

    def _take_turn(self, episode: _Episode, sample) -> Future:
        episode.trajectory.append_model_turn(list(sample.token_ids), list(sample.logprobs), sample.finish_reason)
        episode.ids += sample.token_ids
        return self._pool.submit(episode.env.step, self._written(sample))

    def _written(self, sample: Sample) -> str:
        """The turn as the conversation records it: every token the model wrote, special tokens too
        (a template renders message text verbatim, so they must stay for the prefix to hold), but not
        the end-of-sequence token that closed the turn, which the template writes itself."""
        return self.tokenizer.decode(sample.token_ids[:-1] if sample.finish_reason == "eos" else sample.token_ids)

    def _teach(self, episode: _Episode, teacher: Callable[[gym.Env], str]) -> Sample:
        ids = self._encode(teacher(episode.env))[: self._budget(episode)]
        return Sample(ids, [0.0] * len(ids), "stop", self.tokenizer.decode(ids))

    def _run_in_turns(self, episodes: list[_Episode], teacher: Callable[[gym.Env], str] | None = None) -> None:
        """Turn-synchronous: all active episodes generate a turn together, then all step."""
        sampling = self.config.sampling()
        while active := [e for e in episodes if not e.done]:
            if teacher is not None:
                samples = [self._teach(e, teacher) for e in active]
            else:
                with self.clock.phase("generate"):
                    samples = self.generator.generate([e.ids for e in active], sampling,
                                                      max_new_tokens=[self._budget(e) for e in active])
            futures = [self._take_turn(e, sample) for e, sample in zip(active, samples)]
            with self.clock.phase("env"):
                wait(futures, timeout=self.config.step_timeout)  # all steps started together: a per-step timeout
            for episode, sample, future in zip(active, samples, futures):
                self._after_step(episode, sample, future)

    def _run_continuous(self, episodes: list[_Episode]) -> None:
        """Continuous batching: an episode whose turn ends steps its env and queues its next turn
        while the others keep decoding (the generator implements submit/step/drop/busy/abort)."""
        try:
            self._submit_and_step(episodes)
        except BaseException:
            self.generator.abort()  # else the turns in flight would come back in the next rollout
            raise

    def _submit_and_step(self, episodes: list[_Episode]) -> None:
        generator, sampling = self.generator, self.config.sampling()
        by_key = {id(e): e for e in episodes}
        for episode in episodes:
            if not episode.done:
                generator.submit(id(episode), list(episode.ids), self._budget(episode), sampling)
        running: dict[Future, tuple[_Episode, Any, float]] = {}
        while generator.busy or running:
            with self.clock.phase("generate"):
                finished = generator.step() if generator.busy else []
            for key, sample in finished:
                episode = by_key[key]
                running[self._take_turn(episode, sample)] = (episode, sample, time.monotonic())
            if running and not generator.busy:
                oldest = min(started for _, _, started in running.values())
                with self.clock.phase("env"):
                    wait(running, timeout=max(0.0, oldest + self.config.step_timeout - time.monotonic()),
                         return_when=FIRST_COMPLETED)
            now = time.monotonic()
            for future, (episode, sample, started) in list(running.items()):
                if future.done() or now - started > self.config.step_timeout:
                    del running[future]
                    self._after_step(episode, sample, future)
                    if episode.done:
                        generator.drop(id(episode))
                    else:
                        generator.submit(id(episode), list(episode.ids), self._budget(episode), sampling)

    def _after_step(self, episode: _Episode, sample: Sample, future) -> None:
        trajectory = episode.trajectory
        episode.messages.append({"role": "assistant", "content": self._written(sample)})
        if not future.done():
            # The env is stuck in step() and can no longer be trusted: replace it, end the episode.
            logger.warning("env.step of %s (seed %d) timed out after %.1f s", self.env_id, trajectory.seed, self.config.step_timeout)
            self._envs[self._envs.index(episode.env)] = self.env_factory()
            self._pool_has_stuck_worker = True
            trajectory.reward_last_turn(0.0, {})
            episode.finish("step_timeout")
            return
        if future.exception() is not None:
            logger.warning("env.step of %s (seed %d) raised %r", self.env_id, trajectory.seed, future.exception())
            trajectory.reward_last_turn(0.0, {})
            episode.finish("step_error")
            return
        observation, reward, terminated, truncated, info = future.result()
        if observation:
            role = info.get("observation_role", episode.env.unwrapped.parser.observation_role)
            episode.messages.append({"role": role, "content": _text(observation, "step")})
        trajectory.reward_last_turn(float(reward), info.get("reward_components", {}))
        if terminated or truncated:
            trajectory.outcome = {k: info[k] for k in ("prediction", "gold_answer") if k in info}
            episode.finish("env", terminated=terminated, metrics=dict(info.get("metrics", {})))
            return
        if len(trajectory.turn_spans) >= self.config.max_turns:
            episode.finish("max_turns")
            return
        self._append_observation(episode, sample)

    def _append_observation(self, episode: _Episode, sample: Sample) -> None:
        seen = episode.rendered + self._written(sample)  # what the model has read and written so far
        full = self._render(episode.messages, episode.tools)
        if not full.startswith(seen):
            at = next((i for i, (a, b) in enumerate(zip(seen, full)) if a != b), min(len(seen), len(full)))
            raise ChatTemplateError(
                "the chat template does not keep earlier turns unchanged when a turn is added, so the sampled "
                f"tokens cannot be kept as they are. At character {at}, the conversation so far reads "
                f"{seen[max(0, at - 40):at + 40]!r} but the re-rendered one reads {full[max(0, at - 40):at + 40]!r}. "
                "Use a template that renders earlier turns verbatim (one that strips earlier reasoning does not)."
            )
        rest = full[len(seen):]
        if sample.finish_reason == "eos":
            # The model's own EOS token stays as sampled. When it is the template's end of turn, the template's
            # copy is not repeated; another (e.g. <|endoftext|> where the template closes with <|im_end|>) is
            # followed by the template's closing, in the observation.
            eos = self.tokenizer.decode(sample.token_ids[-1:])
            rest = rest[len(eos):] if rest.startswith(eos) else rest
        suffix = self._encode(rest)
        if len(episode.ids) + len(suffix) >= self.config.max_total_tokens:
            # No room for the observation and a next turn: the trajectory ends at the model's last token.
            episode.finish("max_total_tokens")
            return
        episode.trajectory.append_observation(suffix)
        episode.ids += suffix
        episode.rendered = full

    def _check_budget(self, episode: _Episode) -> None:
        if len(episode.ids) >= self.config.max_total_tokens:
            episode.finish("max_total_tokens")


def _text(observation: Any, method: str) -> str:
    if not isinstance(observation, str):
        raise TypeError(f"the env's {method} returned a {type(observation).__name__} observation: the rollout engine "
                        "reads text observations (envs/contract.py)")
    return observation

"""The agents a benchmark compares. Each runs a batch of episodes of one env and returns their results.

Episode i of an env resets with seed i and, for a dataset env, question i
(`options={"index": i}`), so every agent answers the same questions.

    oracle, random             the sanity bounds (agent_r1.benchmarks.policies)
    naive-rag[:MODEL]          retrieve top-k passages for the question once, answer in one turn
    base-tool-call[:MODEL]     the model, no RL, acting through tool calls (the search tool offered
                               through the chat template's `tools=`)
    agent:MODEL_OR_RUN         a model, a checkpoint or a run folder of `agent-r1 train`, in the env's protocol
    openai:MODEL@URL           a served model behind an OpenAI-compatible chat completions endpoint
MODEL defaults to smollm2-135m-instruct.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence

import gymnasium as gym

import agent_r1.envs  # noqa: F401  (registers the ids)
from agent_r1.benchmarks.policies import POLICIES, make_policy
from agent_r1.envs.actions import Answer, ToolCall
from agent_r1.trainer.models import DEFAULT_MODEL

logger = logging.getLogger(__name__)

STOPS = ("</search>", "</tool_call>", "</answer>")


@dataclass
class EpisodeResult:
    env: str
    policy: str
    index: int
    task_id: str | None
    metrics: dict[str, Any]
    prediction: str | None = None
    gold_answer: Any = None
    seconds: float = 0.0  # wall time of the batch it ran in, divided over its episodes
    tokens: int = 0  # tokens the agent generated
    messages: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Agent(Protocol):
    name: str

    def run(self, env_id: str, env_kwargs: dict[str, Any], indices: Sequence[int]) -> list[EpisodeResult]: ...


class EndpointError(RuntimeError):
    """The chat completions endpoint could not be reached or kept failing."""


def reset_options(env: gym.Env, index: int) -> dict[str, int] | None:
    records = getattr(env.unwrapped, "records", None)
    return {"index": index % len(records)} if records is not None else None


def _timed(results: list[EpisodeResult], started: float) -> list[EpisodeResult]:
    share = (time.perf_counter() - started) / max(1, len(results))
    for result in results:
        result.seconds = share
    return results


class PolicyAgent:
    """A scripted policy (oracle, random), one episode after another."""

    def __init__(self, name: str) -> None:
        self.policy, self.name = make_policy(name), name

    def run(self, env_id, env_kwargs, indices):
        env, started, results = gym.make(env_id, **env_kwargs), time.perf_counter(), []
        for index in indices:
            self.policy.reset(index)
            _, info = env.reset(seed=index, options=reset_options(env, index))
            while True:
                _, _, terminated, truncated, step_info = env.step(self.policy.act(env.unwrapped))
                if terminated or truncated:
                    break
            results.append(EpisodeResult(env_id, self.name, index, info.get("task_id"), step_info["metrics"],
                                         step_info.get("prediction"), step_info.get("gold_answer"),
                                         messages=env.unwrapped.messages))
        env.close()
        return _timed(results, started)


class ModelAgent:
    """A model through the rollout engine, greedy, a batch of episodes at a time."""

    def __init__(self, model: str, *, name: str | None = None, action_format: str | None = None,
                 backend: str = "transformers", max_tokens_per_turn: int = 128, max_total_tokens: int = 4096) -> None:
        from agent_r1.trainer.backends import make_generator
        from agent_r1.trainer.rollout import RolloutConfig

        self.name = name or model
        self.action_format = action_format
        self.generator, self.tokenizer = make_generator(model, backend)
        self.config = RolloutConfig(max_tokens_per_turn=max_tokens_per_turn, max_total_tokens=max_total_tokens, temperature=0.0)
        self._engines: dict[str, tuple[Any, gym.Env]] = {}

    def run(self, env_id, env_kwargs, indices):
        from agent_r1.trainer.rollout import RolloutEngine

        kwargs = dict(env_kwargs, **({"action_format": self.action_format} if self.action_format else {}))
        key = json.dumps([env_id, kwargs], sort_keys=True, default=str)
        if key not in self._engines:
            engine = RolloutEngine(self.generator, self.tokenizer, env_id, env_kwargs=kwargs, config=self.config)
            self._engines[key] = engine, engine.env_factory()  # the probe env tells how to pick question i
        engine, probe = self._engines[key]
        options = [reset_options(probe, i) for i in indices]
        started = time.perf_counter()
        trajectories = engine.rollout(list(indices), options=options)
        return _timed([
            EpisodeResult(env_id, self.name, i, t.task_id, t.metrics, t.outcome.get("prediction"), t.outcome.get("gold_answer"),
                          tokens=t.num_model_tokens, messages=t.messages)
            for i, t in zip(indices, trajectories)
        ], started)


NAIVE_RAG_PROMPT = (
    "Answer the question using the passages below. Reply with the answer only, a few words, no explanation.\n\n"
    "{passages}\n\nQuestion: {question}"
)


class NaiveRAGAgent:
    """The paper's Naive RAG: one search with the question itself, then one answer from the model."""

    def __init__(self, model: str = DEFAULT_MODEL, *, max_new_tokens: int = 32, backend: str = "transformers") -> None:
        from agent_r1.trainer.backends import make_generator

        self.name = f"naive-rag ({model})"
        self.max_new_tokens = max_new_tokens
        self.generator, self.tokenizer = make_generator(model, backend)

    def run(self, env_id, env_kwargs, indices):
        from agent_r1.trainer.generation import SamplingConfig

        started = time.perf_counter()
        envs, prompts, task_ids = [], [], []
        for index in indices:
            env = gym.make(env_id, **env_kwargs)
            _, info = env.reset(seed=index, options=reset_options(env, index))
            passages, *_ = env.step(env.unwrapped.parser.render(ToolCall("search", {"query": info["question"]})))
            content = NAIVE_RAG_PROMPT.format(passages=passages, question=info["question"])
            prompts.append(self.tokenizer.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True))
            envs.append(env)
            task_ids.append(info.get("task_id"))
        if hasattr(prompts[0], "keys"):  # transformers 5 returns a BatchEncoding
            prompts = [p["input_ids"] for p in prompts]
        samples = self.generator.generate(prompts, SamplingConfig(self.max_new_tokens, temperature=0.0, stop=("\n",)))
        results = []
        for index, env, task_id, sample in zip(indices, envs, task_ids, samples):
            answer = sample.text.split("\n")[0].strip() or "unknown"
            *_, info = env.step(env.unwrapped.parser.render(Answer(answer)))
            results.append(EpisodeResult(env_id, self.name, index, task_id, info["metrics"], info.get("prediction"),
                                         info.get("gold_answer"), tokens=len(sample.token_ids), messages=env.unwrapped.messages))
            env.close()
        return _timed(results, started)


class EndpointAgent:
    """A served model behind an OpenAI-compatible `POST {url}/chat/completions`, episodes in parallel."""

    def __init__(self, model: str, url: str, *, api_key: str | None = None, concurrency: int = 8, timeout: float = 60.0,
                 retries: int = 3, max_tokens: int = 256, backoff: float = 1.0) -> None:
        self.model, self.url = model, url.rstrip("/")
        self.name = f"{model} @ {self.url}"
        self.api_key, self.concurrency, self.timeout = api_key, concurrency, timeout
        self.retries, self.max_tokens, self.backoff = retries, max_tokens, backoff

    def complete(self, messages: list[dict[str, str]]) -> tuple[str, int]:
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                           "temperature": 0.0, "stop": list(STOPS)}).encode()
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})}
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(f"{self.url}/chat/completions", data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = json.loads(response.read())
                choice = payload["choices"][0]
                return _close_tags(choice["message"].get("content") or ""), int(payload.get("usage", {}).get("completion_tokens", 0))
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break  # a client error does not get better by asking again
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                problem = str(getattr(exc, "reason", exc))
            except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
                problem = f"an unreadable answer ({exc!r})"
        raise EndpointError(f"the endpoint {self.url} failed after {self.retries + 1} attempt(s): {problem}")

    def _episode(self, env_id: str, env_kwargs: dict, index: int) -> EpisodeResult:
        env = gym.make(env_id, **env_kwargs)
        _, info = env.reset(seed=index, options=reset_options(env, index))
        tokens = 0
        try:
            while True:
                text, used = self.complete(env.unwrapped.messages)
                tokens += used
                _, _, terminated, truncated, step_info = env.step(text)
                if terminated or truncated:
                    return EpisodeResult(env_id, self.name, index, info.get("task_id"), step_info["metrics"],
                                         step_info.get("prediction"), step_info.get("gold_answer"), tokens=tokens,
                                         messages=env.unwrapped.messages)
        finally:
            env.close()

    def run(self, env_id, env_kwargs, indices):
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            results = list(pool.map(lambda i: self._episode(env_id, env_kwargs, i), indices))
        return _timed(results, started)


def _close_tags(text: str) -> str:
    """OpenAI-style servers cut the stop string off; put the closing tag back so the action parses."""
    for stop in STOPS:
        opening = stop.replace("</", "<")
        if opening in text and stop not in text:
            return text + stop
    return text


def make_agent(spec: str, *, backend: str = "transformers", max_tokens_per_turn: int = 128) -> Agent:
    """An agent from its command-line spelling (see the module's docstring)."""
    kind, _, argument = spec.partition(":")
    if spec in POLICIES:
        return PolicyAgent(spec)
    if kind == "naive-rag":
        return NaiveRAGAgent(argument or DEFAULT_MODEL, backend=backend)
    if kind == "base-tool-call":
        model = argument or DEFAULT_MODEL
        return ModelAgent(model, name=f"base-tool-call ({model})", action_format="tool_call", backend=backend,
                          max_tokens_per_turn=max_tokens_per_turn)
    if kind == "agent" and argument:
        return ModelAgent(argument, name=f"agent ({argument})", backend=backend, max_tokens_per_turn=max_tokens_per_turn)
    if kind == "openai" and "@" in argument:
        model, _, url = argument.partition("@")
        import os

        return EndpointAgent(model, url, api_key=os.environ.get("OPENAI_API_KEY"))
    raise ValueError(f"unknown policy {spec!r}: use oracle, random, naive-rag[:MODEL], base-tool-call[:MODEL], "
                     "agent:MODEL_OR_RUN or openai:MODEL@URL")

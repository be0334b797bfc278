"""The agents a benchmark compares. Each runs a batch of episodes of one env and returns their results.

Episode i of an env resets with seed i and, for a dataset env, poses question i (trainer/rollout/episodes.py,
the rule of every evaluation), so every agent answers the same questions.

    oracle, random             the sanity bounds (agent_r1.benchmarks.evaluation.policies)
    naive-rag[:MODEL]          retrieve top-k passages for the question once, answer in one turn
    base-tool-call[:MODEL]     the model, no RL, acting through tool calls (the search tool offered
                               through the chat template's `tools=`)
    agent:MODEL_OR_RUN         a model, a checkpoint or a run folder of `agent-r1 train`, in the env's protocol
    openai:MODEL@URL           a served model behind an OpenAI-compatible chat completions endpoint
MODEL defaults to smollm2-135m-instruct; a MODEL is that name, a model directory, a run folder of
`agent-r1 train`, or hf:HUB_ID (a Hugging Face hub model, e.g. hf:Qwen/Qwen2.5-3B-Instruct).
"""

from __future__ import annotations

import json
import logging
import os
import reprlib
import time
import urllib.error
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence

import gymnasium as gym

import agent_r1.envs  # noqa: F401  (registers the ids)
from agent_r1.benchmarks.evaluation.policies import POLICIES, make_policy
from agent_r1.envs.actions import STOP_STRINGS, Answer, ToolCall
from agent_r1.tools.http_post import MAX_RESPONSE_BYTES, ResponseTooLarge, post
from agent_r1.trainer.rollout.episodes import episode_options, plan_episodes
from agent_r1.tools.paths import DEFAULT_MODEL
from agent_r1.trainer.rollout.models import ModelNotFoundError, check_model

logger = logging.getLogger(__name__)



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
    error: str | None = None  # why the episode failed (e.g. a malformed reply); its metrics score no answer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Agent(Protocol):
    name: str

    def run(self, env_id: str, env_kwargs: dict[str, Any], indices: Sequence[int]) -> list[EpisodeResult]: ...


class EndpointError(RuntimeError):
    """The chat completions endpoint could not be reached or kept failing: the bench stops (and resumes later)."""


class BadReply(ValueError):
    """The endpoint answered, but not with a chat completion: that episode fails, the bench goes on."""


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
            _, info = env.reset(seed=index, options=episode_options(env, index))
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
                 backend: str = "transformers", max_tokens_per_turn: int = 128, max_total_tokens: int = 4096,
                 dtype: str = "float32", kv_cache_gb: float | None = None) -> None:
        from agent_r1.trainer.rollout.backends import make_generator
        from agent_r1.trainer.rollout.engine import RolloutConfig

        self.name = _with_sampler(name or model, dtype, backend)
        self.action_format = action_format
        self.generator, self.tokenizer = make_generator(model, backend, dtype=dtype, kv_cache_gb=kv_cache_gb)
        self.config = RolloutConfig(max_tokens_per_turn=max_tokens_per_turn, max_total_tokens=max_total_tokens, temperature=0.0)
        self._engines: dict[str, tuple[Any, gym.Env]] = {}

    def run(self, env_id, env_kwargs, indices):
        from agent_r1.trainer.rollout.engine import RolloutEngine

        kwargs = dict(env_kwargs, **({"action_format": self.action_format} if self.action_format else {}))
        key = json.dumps([env_id, kwargs], sort_keys=True, default=str)
        if key not in self._engines:
            engine = RolloutEngine(self.generator, self.tokenizer, env_id, env_kwargs=kwargs, config=self.config)
            self._engines[key] = engine, engine.env_factory()  # the probe env tells how to pick question i
        engine, probe = self._engines[key]
        plan = plan_episodes(probe, indices)
        started = time.perf_counter()
        trajectories = engine.rollout(list(plan.seeds), options=list(plan.options))
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

    def __init__(self, model: str = DEFAULT_MODEL, *, max_new_tokens: int = 32, backend: str = "transformers",
                 dtype: str = "float32", kv_cache_gb: float | None = None) -> None:
        from agent_r1.trainer.rollout.backends import make_generator

        self.name = _with_sampler(f"naive-rag ({model})", dtype, backend)
        self.max_new_tokens = max_new_tokens
        self.generator, self.tokenizer = make_generator(model, backend, dtype=dtype, kv_cache_gb=kv_cache_gb)

    def run(self, env_id, env_kwargs, indices):
        from agent_r1.trainer.rollout.generation import SamplingConfig

        started = time.perf_counter()
        envs, prompts, task_ids = [], [], []
        for index in indices:
            env = gym.make(env_id, **env_kwargs)
            _, info = env.reset(seed=index, options=episode_options(env, index))
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
            # The text without the end-of-turn token: "Cork<|im_end|>" must score as "Cork"
            text = self.tokenizer.decode(sample.token_ids, skip_special_tokens=True)
            answer = text.split("\n")[0].strip() or "unknown"
            *_, info = env.step(env.unwrapped.parser.render(Answer(answer)))
            results.append(EpisodeResult(env_id, self.name, index, task_id, info["metrics"], info.get("prediction"),
                                         info.get("gold_answer"), tokens=len(sample.token_ids), messages=env.unwrapped.messages))
            env.close()
        return _timed(results, started)


class EndpointAgent:
    """A served model behind an OpenAI-compatible `POST {url}/chat/completions`, episodes in parallel.

    `timeout` bounds one request whole (connecting, waiting, reading the reply), and a reply may be
    at most `max_response_bytes` long. A request that fails (unreachable, timed out, HTTP 5xx or 429)
    is tried `retries` more times after a backoff of `backoff`, 2 x `backoff`, ...; so a turn of a
    never-answering endpoint costs at most (retries + 1) x timeout + (2**retries - 1) x backoff
    (4 min 7 s by default), after which the bench stops, keeping the finished episodes. A redirect
    is an error, never followed: the API key must not travel to wherever a server points. A reply
    that is not a chat completion (not JSON, no choices[0].message.content text, a bad usage, too
    large) fails that episode alone, recorded with its reason, and the bench goes on.
    """

    def __init__(self, model: str, url: str, *, api_key: str | None = None, concurrency: int = 8, timeout: float = 60.0,
                 retries: int = 3, max_tokens: int = 256, backoff: float = 1.0,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.model, self.url = model, url.rstrip("/")
        self.name = f"{model} @ {self.url}"
        self.api_key, self.concurrency, self.timeout = api_key, concurrency, timeout
        self.retries, self.max_tokens, self.backoff = retries, max_tokens, backoff
        self.max_response_bytes = max_response_bytes

    def complete(self, messages: list[dict[str, str]]) -> tuple[str, int]:
        """(the reply's text, its completion tokens); raises EndpointError or BadReply."""
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                           "temperature": 0.0, "stop": list(STOP_STRINGS)}).encode()
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})}
        problem, attempts = "", 0
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            attempts += 1
            try:
                raw = post(f"{self.url}/chat/completions", body, headers, timeout=self.timeout,
                           max_bytes=self.max_response_bytes)
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
                if 300 <= exc.code < 400:
                    location = exc.headers.get("Location")
                    problem += f" (a redirect to {location!r}: not followed, so that the API key goes nowhere else)"
                if exc.code < 500 and exc.code != 429:
                    break  # a client error (or a redirect) does not get better by asking again
            except ResponseTooLarge as exc:
                raise BadReply(str(exc)) from None
            except OSError as exc:  # unreachable, reset, past the deadline
                problem = str(getattr(exc, "reason", exc))
            else:
                return read_reply(raw)
        raise EndpointError(f"the endpoint {self.url} failed after {attempts} attempt(s): {problem}")

    def _episode(self, env_id: str, env_kwargs: dict, index: int) -> EpisodeResult:
        env = gym.make(env_id, **env_kwargs)
        _, info = env.reset(seed=index, options=episode_options(env, index))
        tokens = 0
        try:
            while True:
                try:
                    text, used = self.complete(env.unwrapped.messages)
                except BadReply as exc:
                    return self._failed(env, env_id, index, info, tokens, exc)
                tokens += used
                _, _, terminated, truncated, step_info = env.step(text)
                if terminated or truncated:
                    return EpisodeResult(env_id, self.name, index, info.get("task_id"), step_info["metrics"],
                                         step_info.get("prediction"), step_info.get("gold_answer"), tokens=tokens,
                                         messages=env.unwrapped.messages)
        finally:
            env.close()

    def _failed(self, env: gym.Env, env_id: str, index: int, info: dict, tokens: int, problem: BadReply) -> EpisodeResult:
        turn = env.unwrapped.turn + 1
        error = f"the reply of turn {turn} is not a chat completion: {problem}"
        logger.warning("%s, episode %d of %s: %s; the episode counts as failed", self.name, index, env_id, error)
        # The env's own score for an episode that ends with no answer (as at truncation): a failed
        # episode counts as a miss in every mean, rather than leaving them.
        end = env.unwrapped._finish(None)
        return EpisodeResult(env_id, self.name, index, info.get("task_id"), {**end.metrics, "turns": turn},
                             gold_answer=end.info.get("gold_answer"), tokens=tokens, messages=env.unwrapped.messages,
                             error=error)

    def run(self, env_id, env_kwargs, indices):
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            results = list(pool.map(lambda i: self._episode(env_id, env_kwargs, i), indices))
        return _timed(results, started)


# No real reply comes near: a count past this is a server's garbage (and would overflow a float mean).
_MAX_TOKENS = 10**9


def read_reply(raw: bytes) -> tuple[str, int]:
    """(text, completion tokens) of a chat completion's body; BadReply for anything else.

    `usage` may be absent or null (some servers do not count): the tokens are then 0.
    """
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, a 5,000-digit number, nested too deep
        raise BadReply(f"not JSON ({reprlib.repr(str(exc))}): {_excerpt(raw)}") from None
    choices = payload.get("choices") if isinstance(payload, dict) else None
    message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(message, dict) or not isinstance(content, (str, type(None))):
        raise BadReply(f"no text at choices[0].message.content: {_excerpt(raw)}")
    usage = payload.get("usage")
    used = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if not isinstance(usage, (dict, type(None))) or not (used is None or type(used) is int and 0 <= used <= _MAX_TOKENS):
        raise BadReply(f"usage.completion_tokens is not a count: {_excerpt(raw)}")
    return _close_tags(content or ""), used or 0


def _excerpt(raw: bytes) -> str:
    return repr(raw[:200].decode("utf-8", "replace")) + (" ..." if len(raw) > 200 else "")


def _close_tags(text: str) -> str:
    """OpenAI-style servers cut the stop string off; put the closing tag back so the action parses."""
    for stop in STOP_STRINGS:
        opening = stop.replace("</", "<")
        if opening in text and stop not in text:
            return text + stop
    return text


KNOWN_AGENTS = ("oracle, random, naive-rag[:MODEL], base-tool-call[:MODEL], agent:MODEL_OR_RUN or openai:MODEL@URL, "
                f"with MODEL {DEFAULT_MODEL}, a model directory, a run folder or hf:HUB_ID")


def check_agent(spec: str) -> None:
    """Fails at once, offline, on a spelling make_agent would refuse: before any model loads, and
    without taking a typo for a hub id (which would spend minutes on the network)."""
    kind, _, argument = spec.partition(":")
    if spec in POLICIES:
        return
    if kind == "openai" and "@" in argument:
        url = urllib.parse.urlsplit(argument.partition("@")[2])
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"policy {spec!r}: the URL must be http(s)://HOST[:PORT]/PATH, "
                             "e.g. openai:gpt-4o-mini@https://api.openai.com/v1")
        return
    if kind in ("naive-rag", "base-tool-call") or kind == "agent" and argument:
        try:
            check_model(argument or DEFAULT_MODEL)
        except ModelNotFoundError as exc:
            raise ValueError(f"policy {spec!r}: {exc}") from None
        return
    raise ValueError(f"unknown policy {spec!r}: use {KNOWN_AGENTS}")


def sampler_tag(dtype: str, backend: str = "transformers") -> str:
    """How a model's episodes were sampled, in a word or two: its weights' precision, and vLLM where it sampled
    (the numbers of two samplers differ slightly, as two precisions do)."""
    return dtype if backend == "transformers" else f"{backend} {dtype}"


def _with_sampler(name: str, dtype: str, backend: str) -> str:
    """A policy's name, marked unless the policy sampled itself in float32 ("NAME [bfloat16]", "NAME [vllm
    bfloat16]"): its episodes are kept apart (a resumed bench never mixes two samplers in one file)."""
    tag = sampler_tag(dtype, backend)
    return name if tag == "float32" else f"{name} [{tag}]"


def make_agent(spec: str, *, backend: str = "transformers", max_tokens_per_turn: int = 128,
               dtype: str = "float32", kv_cache_gb: float | None = None) -> Agent:
    """An agent from its command-line spelling (see the module's docstring); a model's weights in `dtype`, and
    vLLM's KV cache of `kv_cache_gb` GiB (the vllm backend)."""
    check_agent(spec)
    kind, _, argument = spec.partition(":")
    if spec in POLICIES:
        return PolicyAgent(spec)
    if kind == "naive-rag":
        return NaiveRAGAgent(argument or DEFAULT_MODEL, backend=backend, dtype=dtype, kv_cache_gb=kv_cache_gb)
    if kind == "base-tool-call":
        model = argument or DEFAULT_MODEL
        return ModelAgent(model, name=f"base-tool-call ({model})", action_format="tool_call", backend=backend,
                          max_tokens_per_turn=max_tokens_per_turn, dtype=dtype, kv_cache_gb=kv_cache_gb)
    if kind == "agent":
        return ModelAgent(argument, name=f"agent ({argument})", backend=backend, max_tokens_per_turn=max_tokens_per_turn,
                          dtype=dtype, kv_cache_gb=kv_cache_gb)
    model, _, url = argument.partition("@")  # openai:MODEL@URL, as check_agent made sure
    return EndpointAgent(model, url, api_key=os.environ.get("OPENAI_API_KEY"))

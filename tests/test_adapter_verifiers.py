"""The verifiers adapter, run through verifiers' own rollout machinery against a fake model.

The model is a tiny OpenAI-compatible server on 127.0.0.1 (http.server in a thread):
verifiers' interception forwards each chat completion to it, as it would to vLLM. Its
policy answers from a mirror env, stepped with the same actions, so the conversation
the adapter builds can be checked against the env's own history.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("verifiers")

import gymnasium as gym

import agent_r1.envs  # noqa: F401
import verifiers.v1 as vf
from agent_r1.envs.actions import Answer
from agent_r1.envs.verifiers_adapter import AgentR1Env, load_environment

Policy = Callable[[list[dict]], str]


class _ChatCompletions(BaseHTTPRequestHandler):
    policy: Policy

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = type(self).policy(request["messages"])
        body = json.dumps({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": request["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_model() -> Iterator[Callable[[Policy], vf.ModelContext]]:
    servers: list[ThreadingHTTPServer] = []

    def serve(policy: Policy) -> vf.ModelContext:
        handler = type("Handler", (_ChatCompletions,), {"policy": staticmethod(policy)})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        # api_key_var: anything but PRIME_API_KEY, so no Prime CLI config is consulted.
        client = vf.EvalClientConfig(base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key_var="AGENT_R1_FAKE_KEY")
        return vf.ModelContext(model="fake", client=client)

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _evaluate(env: AgentR1Env, ctx: vf.ModelContext) -> list[vf.Episode]:
    """What verifiers' eval runner does in-process, minus the output files."""
    async def main() -> list[vf.Episode]:
        async with env.serving():
            slots = [slot for task in env.taskset for slot in env.slots(task)]
            return list(await asyncio.gather(*(env.run_slot(slot, ctx) for slot in slots)))

    return asyncio.run(main())


def _oracle(env_id: str, env_kwargs: dict, seeds: range, seen: list[bool]) -> Policy:
    """Answers as `oracle_action()` of a mirror env per episode (found by its first message)."""
    mirrors = {}
    for seed in seeds:
        mirror = gym.make(env_id, **env_kwargs)
        prompt, _ = mirror.reset(seed=seed)
        mirrors[prompt] = mirror

    def policy(messages: list[dict]) -> str:
        mirror = mirrors[next(m["content"] for m in messages if m["role"] == "user")]
        seen.append([m["content"] for m in messages] == [m["content"] for m in mirror.unwrapped.messages])
        action = mirror.unwrapped.oracle_action()
        mirror.step(action)
        return action

    return policy


# SynthHop's process preset adds 0.1 per gold passage found: the reward is the return, not just EM.
@pytest.mark.parametrize(("env_id", "env_kwargs", "expected_return"), [
    ("AgentR1/SynthHop-v0", {"reward": "process"}, 1.2),
    ("AgentR1/Arithmetic-v0", {}, 1.0),
])
def test_oracle_episodes_earn_the_env_return(env_id: str, env_kwargs: dict, expected_return: float, fake_model) -> None:
    seen: list[bool] = []
    env = load_environment(env_id, num_tasks=2, seed=3, **env_kwargs)
    episodes = _evaluate(env, fake_model(_oracle(env_id, env_kwargs, range(3, 5), seen)))

    assert len(episodes) == 2
    for episode in episodes:
        assert episode.ok, episode.errors
        (trace,) = episode.traces
        assert trace.reward == pytest.approx(expected_return) == trace.metrics["return"]
        assert trace.metrics["em"] == 1.0 and trace.metrics["f1"] == 1.0
        assert trace.info["agent_r1"]["terminated"] is True
        # one model turn per env step, the tool turns included
        assert trace.num_turns == trace.info["agent_r1"]["turns"] == trace.metrics["turns"] >= 2
    # every request carried exactly the env's own history: observations went back to the model
    assert seen and all(seen)
    assert len(seen) == sum(trace.num_turns for episode in episodes for trace in episode.traces)


def test_wrong_answer_scores_zero(fake_model) -> None:
    env_id = "AgentR1/SynthHop-v0"
    wrong = gym.make(env_id).unwrapped.parser.render(Answer("zzzz qqqq"))
    episodes = _evaluate(load_environment(env_id, num_tasks=1), fake_model(lambda messages: wrong))

    (episode,) = episodes
    assert episode.ok, episode.errors
    (trace,) = episode.traces
    assert trace.reward == 0.0
    assert trace.metrics["em"] == 0.0 and trace.metrics["f1"] == 0.0
    assert trace.num_turns == 1 and trace.info["agent_r1"]["terminated"] is True

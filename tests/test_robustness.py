"""Every registered env under 10,000 random and adversarial actions: nothing escapes `step`,
and no step takes long."""

import json
import random
import zlib

import pytest

import agent_r1.envs
from agent_r1.envs import InvalidAction
from conftest import cpu_seconds, make_env

FRAGMENTS = [
    "<search>", "</search>", "<answer>", "</answer>", "<tool_call>", "</tool_call>", "<think>", "</think>",
    "<information>", '{"name": "search", "arguments": {"query": "', '"}}', "{", "}", "[", "]", '"', "\\",
    "\x00", "\x1b[31m", "\u202e", "\ud800", "東京", "é", "\n", " ", "search", "name", "null", "NaN",
]


def adversarial_action(rng: random.Random) -> str:
    kind = rng.randrange(11)
    if kind == 0:
        return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randrange(1, 30)))
    if kind == 1:
        return "<search>" * rng.randrange(1, 50) + "x" + "</search>" * rng.randrange(0, 50)
    if kind == 2:
        return "<search>" + "a" * rng.choice([10, 10_000, 1_000_000]) + "</search>"
    if kind == 3:
        return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(0, 200)))
    if kind == 4:
        payload = rng.choice(['{"name": 1}', "{}", "[]", '{"name": "search", "arguments": {"query": null}}',
                              '{"name": "search", "arguments": {"query": "x", "k": 99}}', "{" * 5000,
                              '{"name": "rm -rf", "arguments": {}}', '{"name": "search", "arguments": "{\\"query\\": 5}"}',
                              '{"name": "search", "arguments": {"query": %s}}' % ("9" * 5000),  # past int()'s limit
                              '{"name": "search", "arguments": "%s"}' % ("[" * rng.choice([5000, 100_000]))])
        return f"<tool_call>{payload}</tool_call>"
    if kind == 5:
        return "<answer>" + "".join(rng.choice(FRAGMENTS) for _ in range(5)) + "</answer>"
    if kind == 6:
        return "<think>" + rng.choice(FRAGMENTS) + "<search>hidden</search>"
    if kind == 7:
        return ""
    if kind == 8:
        return "<search>" + " ".join(rng.choice(["city", "film", "the", "born", "zz"]) for _ in range(5)) + "</search>"
    if kind == 9:
        return "<answer><search>nested</search></answer>"
    # Unclosed tags, under and over the length limit: the parser used to take time n squared in them.
    return rng.choice(["<search>", "<answer>", "<tool_call>", "<think>"]) * rng.choice([10, 2_000, 20_000])


@pytest.mark.slow
@pytest.mark.parametrize("env_id", sorted(agent_r1.envs.ENVS))
@pytest.mark.parametrize("action_format", ["search_r1", "tool_call"])
def test_ten_thousand_adversarial_actions(env_id, action_format):
    if env_id == "AgentR1/Arithmetic-v0" and action_format == "search_r1":
        pytest.skip("Arithmetic offers several tools: tool calls only")
    env = make_env(env_id, action_format=action_format, reward="process")
    rng = random.Random(zlib.crc32(f"{env_id} {action_format}".encode()))
    env.reset(seed=0)
    episodes, invalid, slowest = 0, 0, (0.0, "")
    for step in range(10_000):
        action = adversarial_action(rng)
        history = len(env.unwrapped.messages)
        (observation, reward, terminated, truncated, info), seconds = cpu_seconds(env.step, action)
        slowest = max(slowest, (seconds, action[:80]))
        assert isinstance(observation, str) and observation in env.observation_space
        assert isinstance(reward, float) and reward == reward and abs(reward) < 10
        if isinstance(info["action"], InvalidAction):
            invalid += 1
            assert observation.startswith("Invalid action: ") and "A valid action is" in observation
            assert info["reward_components"]["format"] == -1.0
        grown = len(env.unwrapped.messages) - history
        assert grown == (1 if terminated else 2)
        if terminated or truncated:
            assert "metrics" in info
            episodes += 1
            env.reset(seed=step)
    assert invalid > 1000 and episodes > 100
    assert slowest[0] < 0.1, f"a step took {slowest[0]:.3f} s on {slowest[1]!r}"
    json.dumps(env.unwrapped.messages)  # the history stays serialisable

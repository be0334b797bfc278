"""Property-based: any sequence of actions keeps every registered env's invariants."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agent_r1.envs
from conftest import make_env
from test_robustness import FRAGMENTS

ACTIONS = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(FRAGMENTS + ["Paris", "1961", "42", "6 * 7"]), max_size=20).map("".join),
    st.builds(lambda q: f"<search> {q} </search>", st.text(max_size=40)),
    st.builds(lambda a: f"<answer> {a} </answer>", st.text(max_size=20)),
    st.builds(lambda e: '<tool_call>{"name": "calculator", "arguments": {"expression": "%s"}}</tool_call>' % e,
              st.sampled_from(["6 * 7", "1 / 0", "x", "2 ** 99"])),
)
ENV_FORMATS = [(env_id, fmt) for env_id in sorted(agent_r1.envs.ENVS) for fmt in ("search_r1", "tool_call")
               if not (env_id == "AgentR1/Arithmetic-v0" and fmt == "search_r1")]
_ENVS = {}


def env_for(env_id, action_format):
    if (env_id, action_format) not in _ENVS:  # building a dataset env's index once is enough
        _ENVS[env_id, action_format] = make_env(env_id, action_format=action_format, reward="process")
    return _ENVS[env_id, action_format]


@pytest.mark.parametrize("env_id, action_format", ENV_FORMATS)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), actions=st.lists(ACTIONS, min_size=1, max_size=10))
def test_any_action_sequence_keeps_the_invariants(env_id, action_format, seed, actions):
    env = env_for(env_id, action_format)
    observation, _ = env.reset(seed=seed)
    assert isinstance(observation, str) and observation in env.observation_space
    ended = False
    for step, action in enumerate(actions, 1):
        if ended:
            with pytest.raises(RuntimeError, match="reset"):
                env.step(action)
            break
        observation, reward, terminated, truncated, info = env.step(action)
        assert isinstance(observation, str) and observation in env.observation_space
        assert isinstance(reward, float) and math.isfinite(reward)
        assert not (terminated and truncated)
        assert sum(m["role"] == "assistant" for m in env.unwrapped.messages) == step  # one turn per step
        assert all(isinstance(m["content"], str) for m in env.unwrapped.messages)
        ended = terminated or truncated
        if ended:
            assert {"em", "f1", "return", "turns"} <= set(info["metrics"]) and info["metrics"]["turns"] == step

import subprocess
import sys
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agent_r1.envs
from agent_r1.envs.spaces import UnicodeText
from conftest import make_env

ENV_IDS = sorted(agent_r1.envs.ENVS)


def test_importing_the_envs_is_light():
    code = "import sys, agent_r1.envs, agent_r1.tools; print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_id_is_registered():
    registered = {env_id for env_id in gym.registry if env_id.startswith("AgentR1/")}
    assert set(ENV_IDS) <= registered
    assert {"AgentR1/SynthHop-v0", "AgentR1/HotpotQA-v0", "AgentR1/2WikiMultihopQA-v0", "AgentR1/MuSiQue-v0"} <= registered


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_env_checker_passes(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a failure too
        check_env(make_env(env_id).unwrapped)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_envs(env_id):
    kwargs = make_env(env_id).spec.kwargs  # with the sample data where the env needs it
    envs = gym.make_vec(env_id, num_envs=4, vectorization_mode="sync", **kwargs)
    observations, infos = envs.reset(seed=3)
    assert len(observations) == 4 and len(set(observations)) == 4
    for _ in range(10):  # past the end of the episodes: the vector env resets them itself
        observations, rewards, terminated, truncated, infos = envs.step(["<search>city</search>"] * 4)
        assert all(isinstance(o, str) for o in observations)
    observations, rewards, terminated, truncated, infos = envs.step(["<answer>x</answer>"] * 4)
    envs.close()


def test_text_spaces_accept_any_unicode():
    space = UnicodeText()
    assert "Zoë → 東京 \x00 <search>" in space
    assert "" in space
    assert b"bytes" not in space and 3 not in space
    space.seed(0)
    samples = [space.sample() for _ in range(50)]
    assert all(s in space for s in samples) and max(map(len, samples)) <= 256

"""AgentR1/Mixture-v0: one env posing the episodes of several, as a run that trains on two datasets needs."""

from collections import Counter

import gymnasium as gym
import pytest

import agent_r1.envs  # noqa: F401
from conftest import DATASET_SAMPLES, shared_file

HOTPOT, TWOWIKI = "AgentR1/HotpotQA-v0", "AgentR1/2WikiMultihopQA-v0"


def mixture(weights=(1.0, 1.0), **kwargs):
    members = [[HOTPOT, {"data_path": str(shared_file(DATASET_SAMPLES[HOTPOT])), **kwargs}, weights[0]],
               [TWOWIKI, {"data_path": str(shared_file(DATASET_SAMPLES[TWOWIKI])), **kwargs}, weights[1]]]
    return gym.make("AgentR1/Mixture-v0", members=members)


def test_a_seed_picks_one_member_and_one_question_so_a_grpo_group_stays_on_one_question():
    env, again = mixture(), mixture()
    for seed in range(20):
        first, info = env.reset(seed=seed)
        second, info_again = again.reset(seed=seed)
        assert first == second and info["task_id"] == info_again["task_id"] and info["env"] == info_again["env"]
        assert info["task_id"].startswith(info["env"] + "/")  # qualified: two datasets may reuse an id


def test_members_are_drawn_in_proportion_to_their_weights():
    env = mixture(weights=(1.0, 3.0))
    counts = Counter(env.reset(seed=seed)[1]["env"] for seed in range(2000))
    # Binomial(2000, 0.25): the standard deviation is about 19 episodes.
    assert abs(counts[HOTPOT] - 500) < 100 and counts[HOTPOT] + counts[TWOWIKI] == 2000


def test_options_pick_the_member_and_the_question():
    env = mixture()
    _, info = env.reset(seed=0, options={"env": TWOWIKI, "index": 3})
    direct = gym.make(TWOWIKI, data_path=str(shared_file(DATASET_SAMPLES[TWOWIKI])))
    _, direct_info = direct.reset(options={"index": 3})
    assert info["task_id"] == f"{TWOWIKI}/{direct_info['task_id']}" and info["env"] == TWOWIKI
    assert env.reset(seed=0, options={"env": 0})[1]["env"] == HOTPOT
    with pytest.raises(ValueError, match="options\\['env'\\]"):
        env.reset(options={"env": "AgentR1/MuSiQue-v0"})


def test_an_episode_is_the_active_members_own_and_the_engine_sees_its_messages_and_oracle():
    env = mixture(reward="process")
    observation, info = env.reset(seed=4)
    member = env.unwrapped.active
    assert observation == member.messages[-1]["content"] and env.unwrapped.messages == member.messages
    assert env.unwrapped.parser is member.parser and env.unwrapped.tool_schemas() == member.tool_schemas()
    total, terminated, truncated = 0.0, False, False
    while not (terminated or truncated):
        observation, reward, terminated, truncated, step_info = env.step(env.unwrapped.oracle_action())
        total += reward
    assert terminated and step_info["metrics"]["em"] == 1.0 and step_info["env"] == info["env"]
    assert total > 1.0  # process rewards: gold passages, then the answer


@pytest.mark.parametrize("members, message", [
    ([], "at least one member"),
    ([[HOTPOT]], "\\[env_id, kwargs\\]"),
    ([[HOTPOT, {}, 0]], "weight of AgentR1/HotpotQA-v0 must be a number above 0"),
    ([[HOTPOT, {}, float("nan")]], "must be a number above 0"),
    ([[HOTPOT, {}], [HOTPOT, {}]], "each env once"),
])
def test_bad_members_are_refused(members, message):
    with pytest.raises(ValueError, match=message):
        gym.make("AgentR1/Mixture-v0", members=members)

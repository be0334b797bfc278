import random
import signal
from contextlib import contextmanager

import gymnasium as gym
import pytest

import agent_r1.envs  # noqa: F401
from agent_r1.envs.synthhop.questions import comparison_question, hop_paths, make_question
from agent_r1.envs.synthhop.world import generate_world
from agent_r1.envs.tool_env import ToolEnv


def test_the_same_seed_gives_the_same_world_and_question():
    a, b = gym.make("AgentR1/SynthHop-v0"), gym.make("AgentR1/SynthHop-v0")
    for seed in range(20):
        obs_a, info_a = a.reset(seed=seed)
        obs_b, info_b = b.reset(seed=seed)
        assert obs_a == obs_b and info_a == info_b
        assert [p.contents for p in a.unwrapped.task.retriever.passages] == [
            p.contents for p in b.unwrapped.task.retriever.passages
        ]
    questions = {a.reset(seed=seed)[1]["question"] for seed in range(50)}
    assert len(questions) == 50


def test_worlds_are_consistent():
    world = generate_world(random.Random(7), size=40)
    names = [e.name for e in world.entities.values()]
    assert len(names) == len(set(names)), "names are unique within a world"
    for person in world.of_kind("person"):
        spouse = world.related(person, "spouse")
        if spouse is not None:
            assert world.related(spouse, "spouse") is person
    for company in world.of_kind("company"):
        assert company.year >= world.related(company, "founded_by").year + 20
    for entity in world.entities.values():
        passage = world.passage(entity)
        assert passage.title == entity.name and passage.text.startswith(entity.name)


def test_chain_questions_have_one_gold_passage_per_hop():
    rng = random.Random(3)
    for hops in (1, 2, 3, 4):
        for _ in range(20):
            world = generate_world(rng, 40)
            question = make_question(rng, world, hops, "chain")
            if question is None:
                continue
            assert len(question.supporting) == hops
            # Following the relations from the first gold entity leads to the answer.
            assert question.supporting[0].name in question.text
            assert question.answer not in question.text


def test_hop_paths_connect_kinds():
    for hops in (1, 2, 3, 4):
        for path in hop_paths(hops):
            assert len(path) == hops
            for first, second in zip(path, path[1:]):
                assert first.target_kind == second.subject_kind


def test_comparison_answers_follow_the_years():
    rng = random.Random(11)
    for _ in range(50):
        world = generate_world(rng, 40)
        question = comparison_question(rng, world)
        a, b = question.supporting
        earlier, later = sorted((a, b), key=lambda e: e.year)
        expected = earlier if ("earlier" in question.text) else later
        assert question.answer == expected.name
        assert a.name in question.text and b.name in question.text


@pytest.mark.parametrize("env_id", ["AgentR1/SynthHop-v0", "AgentR1/SynthHop-1Hop-v0", "AgentR1/SynthHop-Hard-v0"])
@pytest.mark.parametrize("action_format", ["search_r1", "tool_call"])
def test_the_oracle_solves_every_episode_and_finds_every_gold_passage(env_id, action_format):
    env = gym.make(env_id, action_format=action_format)
    for seed in range(100):
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
            done = terminated or truncated
        assert terminated, "the oracle answers within the turn budget"
        assert info["metrics"]["em"] == 1.0 and info["metrics"]["gold_recall"] == 1.0


def test_knobs_and_reset_options():
    env = gym.make("AgentR1/SynthHop-v0", hops=(3,), question_types=("chain",), num_distractors=3, world_size=30)
    _, info = env.reset(seed=1)
    task = env.unwrapped.task
    assert len(task.supporting_ids) == 3
    assert len(task.retriever.passages) == 3 + 3
    assert env.unwrapped.max_turns == 5
    env.reset(seed=1, options={"hops": 1})
    assert len(env.unwrapped.task.supporting_ids) == 1
    env.reset(seed=1, options={"question_type": "comparison"})
    assert " or " in env.unwrapped.task.question


@contextmanager
def deadline(seconds):
    """Fails a block that runs too long (one that would spin forever) instead of hanging the suite."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("hops", [5, 0, -1, 2.0, "2", True, [2]])
def test_a_reset_option_outside_the_allowed_hops_is_refused(hops):
    env = gym.make("AgentR1/SynthHop-v0")
    with deadline(5), pytest.raises(ValueError, match=r"options\['hops'\] must be an integer from 1 to 4, got "):
        env.reset(seed=0, options={"hops": hops})  # 5 used to draw worlds forever, -1 to pose a 1-hop question


@pytest.mark.parametrize("question_type", ["riddle", "", ["chain"]])
def test_a_reset_option_outside_the_question_types_is_refused(question_type):
    env = gym.make("AgentR1/SynthHop-v0")
    with pytest.raises(ValueError, match=r"options\['question_type'\] must be one of chain, comparison, got "):
        env.reset(seed=0, options={"question_type": question_type})


def test_valid_reset_options_still_pose_their_question():
    env = gym.make("AgentR1/SynthHop-v0", hops=2)
    for hops in range(1, 5):
        env.reset(seed=3, options={"hops": hops, "question_type": "chain"})
        assert len(env.unwrapped.task.supporting_ids) == hops
    with pytest.raises(ValueError, match="a chain has 1 to 4 hops, not 5"):
        make_question(random.Random(0), generate_world(random.Random(0)), 5, "chain")


def test_invalid_knobs():
    with pytest.raises(ValueError, match="hops must be between 1 and 4"):
        gym.make("AgentR1/SynthHop-v0", hops=5)
    with pytest.raises(ValueError, match="question_types"):
        gym.make("AgentR1/SynthHop-v0", question_types=("riddle",))
    with pytest.raises(ValueError, match="at least 12 entities"):
        gym.make("AgentR1/SynthHop-v0", world_size=5).reset(seed=0)


def test_chain_answers_are_not_in_the_question():
    env = gym.make("AgentR1/SynthHop-v0", question_types=("chain",))
    for seed in range(50):
        _, info = env.reset(seed=seed)
        assert isinstance(env.unwrapped, ToolEnv)
        assert env.unwrapped.task.answers[0] not in info["question"]

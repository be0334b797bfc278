"""Every code snippet in the README runs."""

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
    from agent_r1.trainer.train_config import TrainConfig, field_defaults

    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    line = next(l for l in text.splitlines() if "agent-r1 train" in l)
    words = shlex.split(line.split("agent-r1", 1)[1].split("$$(")[0].replace("$(DEMO_DIR)", "runs/demo"))
    args = build_parser().parse_args(words)
    config = TrainConfig.from_dict({k: getattr(args, k) for k in field_defaults() if getattr(args, k, None) is not None})
    assert (config.algo, config.warm_start, config.eval_episodes) == ("grpo", 192, 200)

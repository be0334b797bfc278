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


# `make test` is what CI runs, and `make demo` runs `agent-r1 eval`, tested here and in test_cli.
@pytest.mark.parametrize("command", [c for c in COMMANDS if not c.startswith("make ")])
def test_shell_snippets(command, tmp_path):
    assert command.startswith("agent-r1 "), f"no runner for README command {command!r}"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

"""The wheel installs whole and runs on its own, without the editable install of the checkout."""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT, shared_file
from test_layering import modules

SOURCES = ["setup.py", "setup.cfg", "pyproject.toml", "README.md", "envs", "tools", "trainer", "benchmarks"]

# Imports every module of the installed agent_r1 and prints each name and file.
WALK = """
import importlib, json, pkgutil, agent_r1
names = sorted(m.name for m in pkgutil.walk_packages(agent_r1.__path__, "agent_r1."))
print(json.dumps({name: importlib.import_module(name).__file__ for name in names}))
"""


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """(python, agent-r1 script, working folder) of a fresh venv holding only the wheel."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        copy = shutil.copytree if path.is_dir() else shutil.copy
        copy(path, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if path.is_dir() else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(source)], check=True)
    (wheel,) = (tmp_path / "dist").glob("agent_r1-*.whl")

    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    python = fresh / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # --target keeps pip away from this environment (--prefix would uninstall its editable install).
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, str(wheel)],
                   check=True)
    # Dependencies come from this environment; a .pth line adds its site-packages
    # without running its .pth files, so the checkout's editable install stays out.
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "work"
    work.mkdir()
    return python, Path(site) / "bin" / "agent-r1", fresh, work


def _run(wheel_env, *args):
    python, script, _, work = wheel_env
    return subprocess.run([str(python), str(script), *args], capture_output=True, text=True, cwd=work)


@pytest.mark.slow
def test_the_wheel_holds_and_imports_every_module(wheel_env):
    python, _, fresh, work = wheel_env
    walk = subprocess.run([str(python), "-c", WALK], capture_output=True, text=True, cwd=work)
    assert walk.returncode == 0, walk.stderr
    installed = json.loads(walk.stdout.splitlines()[-1])
    assert set(installed) == set(modules())  # every module of the checkout's folders
    assert all(file.startswith(str(fresh)) for file in installed.values())


@pytest.mark.slow
def test_the_wheel_runs_the_command_line(wheel_env):
    run = _run(wheel_env, "eval", "--episodes", "5", "--quiet")
    assert run.returncode == 0, run.stderr
    assert "| AgentR1/SynthHop-v0 | oracle | 5 | 1.000" in run.stdout
    for command in (["data", "--help"], ["data", "download", "--help"], ["train", "--help"], ["bench", "--help"]):
        run = _run(wheel_env, *command)
        assert run.returncode == 0 and "usage: agent-r1" in run.stdout, (command, run.stderr)


@pytest.mark.slow
def test_the_wheel_runs_a_dataset_env(wheel_env):
    sample = shared_file("hotpotqa/dev_distractor_500.jsonl")
    run = _run(wheel_env, "eval", "--env", "AgentR1/HotpotQA-v0", "--env-arg", f"data_path={sample}",
               "--episodes", "5", "--quiet")
    assert run.returncode == 0, run.stderr
    assert "| AgentR1/HotpotQA-v0 | oracle | 5 | 1.000" in run.stdout

"""The wheel installs and runs on its own, without the editable install of the checkout."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT

SOURCES = ["setup.cfg", "pyproject.toml", "README.md", "envs", "tools", "trainer", "benchmarks"]


@pytest.mark.slow
def test_wheel_installs_and_runs(tmp_path):
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

    where = subprocess.run([str(python), "-c", "import agent_r1.envs, agent_r1.trainer.cli as c; print(c.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert where.startswith(str(fresh)), where
    run = subprocess.run([str(python), str(Path(site) / "bin" / "agent-r1"), "eval", "--episodes", "5", "--quiet"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "| AgentR1/SynthHop-v0 | oracle | 5 | 1.000" in run.stdout

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_r1.trainer.cli import main


def test_eval_prints_a_table_and_writes_every_episode(tmp_path, capsys):
    output = tmp_path / "out" / "oracle.json"
    assert main(["eval", "--env", "AgentR1/SynthHop-v0", "--policy", "oracle", "--episodes", "20",
                 "--seed", "5", "--output", str(output), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "| AgentR1/SynthHop-v0 | oracle | 20 | 1.000 | 1.000 |" in table
    result = json.loads(output.read_text())
    assert result["summary"]["em"] == 1.0 and result["summary"]["episodes"] == 20
    assert [e["seed"] for e in result["episodes"]] == list(range(5, 25))
    assert result["episodes"][0]["messages"][0]["role"] == "user"


def test_eval_several_policies_and_env_arguments(tmp_path, capsys):
    output = tmp_path / "both.json"
    main(["eval", "--policy", "oracle,random", "--episodes", "30", "--env-arg", "hops=1",
          "--env-arg", "action_format=tool_call", "--output", str(output), "--quiet"])
    results = json.loads(output.read_text())["results"]
    assert [r["policy"] for r in results] == ["oracle", "random"]
    assert results[0]["summary"]["em"] == 1.0 > results[1]["summary"]["em"]
    assert "<tool_call>" in results[0]["episodes"][0]["messages"][1]["content"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "--env", "AgentR1/Nope-v0"], "unknown env 'AgentR1/Nope-v0'; registered: .*AgentR1/SynthHop-v0"),
        (["eval", "--policy", "genius"], "policy 'genius' is neither oracle nor random nor a loadable model"),
        (["eval", "--env-arg", "hops"], "--env-arg takes KEY=VALUE"),
    ],
)
def test_eval_reports_bad_arguments(argv, message):
    with pytest.raises(SystemExit, match=message):
        main(argv)


def test_eval_without_dataset_files_says_what_to_run(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENT_R1_DATA", str(tmp_path))
    with pytest.raises(SystemExit, match="agent-r1 data download hotpotqa --split dev"):
        main(["eval", "--env", "AgentR1/HotpotQA-v0", "--quiet"])
    with pytest.raises(SystemExit, match="hops must be between 1 and 4"):
        main(["eval", "--env", "AgentR1/SynthHop-v0", "--env-arg", "hops=9", "--quiet"])


def test_the_console_script_is_installed():
    script = Path(sys.executable).parent / "agent-r1"
    result = subprocess.run([str(script), "eval", "--episodes", "3", "--quiet"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "error"})
    assert result.returncode == 0, result.stderr
    assert "| AgentR1/SynthHop-v0 | oracle | 3 |" in result.stdout

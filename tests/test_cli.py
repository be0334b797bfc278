import json
import os
import re
import subprocess
import sys
import time
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
        (["eval", "--policy", "genius"], "unknown policy 'genius'.* Known policies: oracle, random, .*hf:HUB_ID"),
        (["eval", "--env-arg", "hops"], "--env-arg takes KEY=VALUE"),
    ],
)
def test_eval_reports_bad_arguments(argv, message):
    with pytest.raises(SystemExit, match=message):
        main(argv)


def test_gymnasiums_module_colon_id_form_imports_the_module_that_registers_the_env(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_tasks.py").write_text(
        "import gymnasium as gym\n"
        "gym.register('MyTasks/Hop-v0', entry_point='agent_r1.envs.synthhop:SynthHopEnv', kwargs={'hops': 1})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["eval", "--env", "my_tasks:MyTasks/Hop-v0", "--policy", "oracle", "--episodes", "3", "--quiet"]) == 0
    assert "| my_tasks:MyTasks/Hop-v0 | oracle | 3 | 1.000 |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown env 'no_such_module:MyTasks/Hop-v0' \\(importing no_such_module"):
        main(["eval", "--env", "no_such_module:MyTasks/Hop-v0"])
    with pytest.raises(SystemExit, match="unknown env\\(s\\) 'my_tasks:MyTasks/Other-v0' \\(my_tasks registers no"):
        main(["bench", "--envs", "my_tasks:MyTasks/Other-v0", "--out", str(tmp_path / "bench")])


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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "--episodes", "0"], "argument --episodes: must be at least 1, got 0"),
        (["eval", "--episodes", "-5"], "argument --episodes: must be at least 1, got -5"),
        (["eval", "--batch-size", "-1"], "argument --batch-size: must be at least 1, got -1"),
        (["eval", "--seed", "-1"], "argument --seed: must be 0 or more, got -1"),
        (["eval", "--temperature", "nan"], "argument --temperature: must be a finite number, 0 or more, got nan"),
        (["eval", "--max-tokens-per-turn", "0"], "argument --max-tokens-per-turn: must be at least 1, got 0"),
        (["bench", "--limit", "0"], "argument --limit: must be at least 1, got 0"),
        (["bench", "--limit", "-5"], "argument --limit: must be at least 1, got -5"),
        (["bench", "--batch-size", "-1"], "argument --batch-size: must be at least 1, got -1"),
        (["bench", "--limit", "9" * 5000], "argument --limit: invalid positive_int value"),
        (["bench", "--kv-cache-gb", "0"], "argument --kv-cache-gb: must be a finite number above 0, got 0"),
        (["eval", "--kv-cache-gb", "inf"], "argument --kv-cache-gb: must be a finite number above 0, got inf"),
        (["data", "download", "hotpotqa", "--checksum", "bogus"], "argument --checksum: expected ALGORITHM:HEX"),
        (["data", "download", "hotpotqa", "--checksum", "sha256:abc"], "argument --checksum: a sha256 digest has 64 hex digits, got 3"),
    ],
)
def test_bad_values_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "command, option, target, message",
    [
        (["eval"], "--output", "file/out.json", "argument --output: cannot write '{path}': {tmp}/file is a file, not a folder"),
        (["eval"], "--output", "folder", "argument --output: '{path}' is a folder, not a file"),
        (["bench"], "--out", "file", "argument --out: '{path}' is a file, not a folder"),
        (["bench"], "--out", "file/results", "argument --out: cannot write '{path}': {tmp}/file is a file, not a folder"),
        (["data", "download", "hotpotqa"], "--root", "file/cache", "argument --root: cannot write '{path}'"),
    ],
)
def test_an_unwritable_output_is_refused_before_any_work(tmp_path, capsys, command, option, target, message):
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "folder").mkdir()
    path = tmp_path / target
    with pytest.raises(SystemExit) as excinfo:
        main([*command, option, str(path)])
    assert excinfo.value.code == 2
    assert message.format(path=path, tmp=tmp_path) in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "--envs", ","], "error: --envs names nothing, got ','"),
        (["bench", "--envs", "AgentR1/SynthHop-v0", "--policies", ","], "error: --policies names nothing"),
        (["bench", "--envs", "AgentR1/SynthHop-v0", "--setting", "bogus"], "error: --setting must be one of distractor, pooled, corpus, remote, got 'bogus'"),
        (["bench", "--envs", "AgentR1/SynthHop-v0", "--env-arg", "bogus=1"], "error: AgentR1/SynthHop-v0: .*unexpected keyword argument 'bogus'"),
        (["bench", "--envs", "AgentR1/SynthHop-v0", "--policies", "naive-rag", "--kv-cache-gb", "2"],
         "error: a KV cache size sets the vllm backend's cache: the transformers backend keeps one per episode"),
    ],
)
def test_bench_reports_bad_arguments_before_running(tmp_path, argv, message):
    out = tmp_path / "bench"
    with pytest.raises(SystemExit, match=message) as excinfo:
        main([*argv, "--out", str(out), "--quiet"])
    assert excinfo.value.code not in (0, None) and "\n" not in str(excinfo.value)
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env-arg", "bogus=1"], "error: AgentR1/SynthHop-v0: .*unexpected keyword argument 'bogus'"),
        (["--env-arg", "hops=" + "9" * 5000], "error: --env-arg hops: the value is JSON that cannot be read"),
        (["--policy", ","], "error: --policy names nothing"),
        (["--policy", "smollm2-135m-instruct", "--kv-cache-gb", "2"], "error: a KV cache size sets the vllm backend's"),
    ],
)
def test_eval_reports_bad_env_arguments_and_policies_in_one_line(argv, message):
    with pytest.raises(SystemExit, match=message) as excinfo:
        main(["eval", "--episodes", "2", "--quiet", *argv])
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-steps", "-1"], "max_steps must be at least 1, got -1"),
        (["--eval-every", "-1"], "eval_every must be 0 or more, got -1"),
        (["--warm-start", "-4"], "warm_start.episodes must be 0 or more, got -4"),
        (["--seed", "-1"], "seed must be 0 or more, got -1"),
        (["--max-turns", "0"], "max_turns must be at least 1, got 0"),
        (["--learning-rate", "nan"], "learning_rate must be a finite number, got nan"),
        (["--temperature", "0"], "temperature must be above 0, got 0.0"),
        (["--gae-lambda", "1.5"], "gae_lambda must be between 0 and 1, got 1.5"),
        (["--backend", "tgi"], "backend must be one of transformers, vllm, got 'tgi'"),
        (["--rollout-dtype", "bfloat16"], "rollout.dtype sets the vllm backend's weights"),
        (["--backend", "vllm", "--rollout-dtype", "int8"], "rollout.dtype must be one of auto, float32, bfloat16"),
        (["--importance-sampling-cap", "0.5"], "importance_sampling_cap must be 0 (no correction) or at least 1"),
        (["--importance-sampling-cap", "inf"], "importance_sampling_cap must be a finite number"),
        (["--kv-cache-gb", "2"], "rollout.kv_cache_gb: a KV cache size sets the vllm backend's cache"),
        (["--backend", "vllm", "--kv-cache-gb", "-1"], "kv_cache_gb must be 0 or more, got -1"),
    ],
)
def test_train_refuses_out_of_range_settings(tmp_path, argv, message):
    with pytest.raises(SystemExit, match="error: bad training config: .*" + re.escape(message)):
        main(["train", "--output-dir", str(tmp_path / "run"), *argv])
    assert not (tmp_path / "run").exists()


def test_train_refuses_an_unwritable_output_dir(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SystemExit, match="error: --output-dir: .*is a file, not a folder"):
        main(["train", "--output-dir", str(tmp_path / "file" / "run")])


def test_train_refuses_an_argument_the_env_does_not_take_before_loading_a_model(tmp_path):
    pytest.importorskip("trl")
    with pytest.raises(SystemExit, match="error: AgentR1/SynthHop-v0 cannot be made .*unexpected keyword argument 'bogus'"):
        main(["train", "--output-dir", str(tmp_path / "run"), "--env-arg", "bogus=1", "--model", str(tmp_path / "no-model")])
    assert not (tmp_path / "run").exists()


def test_an_unknown_policy_fails_at_once_without_the_network(tmp_path):
    # HF_HUB_OFFLINE unset (conftest sets it): a name taken for a hub id would spend a minute on network retries
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "agent_r1.trainer.cli", "eval", "--policy", "oracle,nosuchpolicy",
                             "--episodes", "2", "--quiet"], capture_output=True, text=True, env=env, timeout=60)
    assert time.monotonic() - started < 10
    assert result.returncode != 0 and result.stdout == ""  # checked before the oracle ran
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown policy 'nosuchpolicy'")
    assert "Known policies: oracle, random, smollm2-135m-instruct" in lines[0] and "hf:HUB_ID" in lines[0]


def test_hub_models_are_asked_for_with_hf(tmp_path):
    from agent_r1.trainer.rollout.models import ModelNotFoundError, check_model, resolve_model

    assert resolve_model("hf:Qwen/Qwen2.5-3B-Instruct") == "Qwen/Qwen2.5-3B-Instruct"  # offline: nothing is fetched
    assert check_model("smollm2-135m-instruct") == "smollm2-135m-instruct"  # without converting it
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    assert check_model(str(tmp_path / "model")) == str(tmp_path / "model")
    for name, message in [("hf:", "needs a hub id"), ("Org/Typo-7B", "no model named 'Org/Typo-7B'.*hf:ORG/NAME"),
                          (str(tmp_path / "none"), "no model directory at")]:
        with pytest.raises(ModelNotFoundError, match=message):
            check_model(name)

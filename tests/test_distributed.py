"""`accelerate launch --num_processes 2` on the CPU (gloo): data-parallel training as users run it on several GPUs."""

import json
import os
import socket
import subprocess
import sys
import time

import psutil
import pytest

pytest.importorskip("trl")

from test_train_cli import records, tiny_model_dir  # noqa: E402,F401  (a fixture)

ARGS = ["--groups-per-step", "2", "--group-size", "2", "--micro-batch-size", "1", "--eval-episodes", "2",
        "--max-tokens-per-turn", "8", "--max-total-tokens", "1024", "--save-every", "1", "--eval-every", "10"]


def launch(model, out, *extra):
    """Two processes; `--multi_gpu` is accelerate's data-parallel launcher, which the trainer runs on gloo without a GPU."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
               "-m", "agent_r1.trainer.cli", "train", "--model", str(model), "--output-dir", str(out), *ARGS, *extra]
    env = {**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


STEPS = 24  # a tiny model's step takes a fraction of a second: enough of them for the kill to land mid-run


@pytest.mark.slow
def test_two_processes_train_one_run_and_resume_after_sigkill(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    process = launch(tiny_model_dir, out, "--max-steps", str(STEPS))
    deadline = time.monotonic() + 300
    while not (out / "checkpoint-1").exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no checkpoint-1 after 300 s"
        time.sleep(0.05)
    # The launcher and both workers (torchrun starts each in a session of its own), as a crash would.
    for member in [*psutil.Process(process.pid).children(recursive=True), psutil.Process(process.pid)]:
        member.kill()
    process.communicate()
    assert not (out / "final").exists()
    # Only the main process wrote the checkpoint; each process saved its own random state into it.
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= set(os.listdir(out / "checkpoint-1"))

    resumed = launch(tiny_model_dir, out, "--max-steps", str(STEPS), "--resume")
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr[-3000:]
    assert stdout.count(f"{STEPS} steps: held-out EM") == 1  # the main process reports; the other says nothing
    logged = records(out)
    # Each step logged once by the main process, none lost across the kill; evaluations every 10 steps.
    assert [r["step"] for r in logged if "train" in r] == list(range(1, STEPS + 1))
    assert [r["step"] for r in logged if "eval" in r] == [0, 10, 20, STEPS]  # the main process evaluates, the other waits
    # A step is the configured batch over both processes: 2 groups, one per process, of new questions each step.
    steps = [r["task_ids"]["train"] for r in logged if "train" in r.get("task_ids", {})]
    assert [len(ids) for ids in steps] == [2] * STEPS and len({i for ids in steps for i in ids}) == 2 * STEPS
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == STEPS and set(summary["train_task_ids"]).isdisjoint(summary["eval_task_ids"])
    assert (out / "final" / "adapter_model.safetensors").exists()
    # Each step checks that both processes hold the same adapter (trainer.check_replicas_agree raises otherwise).
    assert "weights differ" not in stderr


def test_a_batch_that_does_not_split_over_the_processes_is_refused(tiny_model_dir, tmp_path):
    process = launch(tiny_model_dir, tmp_path / "run", "--max-steps", "1", "--groups-per-step", "1", "--group-size", "3",
                     "--micro-batch-size", "1")
    _, stderr = process.communicate(timeout=300)
    assert process.returncode != 0
    assert "must be a multiple of micro_batch_size x processes (1 x 2)" in stderr
    assert not (tmp_path / "run" / "train_config.json").exists()

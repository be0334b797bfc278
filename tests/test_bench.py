"""`agent-r1 bench`: tables, resume, served models, comparisons, and its failure modes."""

import json
from http.server import BaseHTTPRequestHandler

import pytest

from agent_r1.benchmarks.evaluation.agents import EndpointAgent, EndpointError, _close_tags
from agent_r1.benchmarks.evaluation.compare import compare, paired_bootstrap
from agent_r1.benchmarks.evaluation.harness import read_episodes
from agent_r1.trainer.cli import main
from conftest import DATASET_SAMPLES, shared_file
from servers import serve


def data_args():
    args = []
    for env_id, sample in DATASET_SAMPLES.items():
        args += ["--data-path", f"{env_id}={shared_file(sample)}"]
    return args


def bench(out, *extra):
    return main(["bench", "--out", str(out), "--quiet", *data_args(), *extra])


def test_bench_writes_the_papers_table_and_resumes(tmp_path, capsys):
    out = tmp_path / "b"
    assert bench(out, "--policies", "oracle,random", "--limit", "3", "--paper") == 0
    printed = capsys.readouterr().out
    assert "| method | HotpotQA | 2Wiki | MuSiQue | average |" in printed
    assert "| GRPO (published, Qwen2.5-3B) | 0.4405 | 0.5741 | 0.1485 |" in printed
    assert "| oracle | 1.0000 | 1.0000 | 1.0000 | 1.0000 |" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["results"]) == 6 and all(r["episodes"] == 3 for r in summary["results"])
    assert {"em", "f1", "cover_em", "gold_recall", "turns", "searches", "invalid_actions", "tokens", "seconds"} <= set(summary["results"][0])
    assert (out / "em.png").stat().st_size > 1000 and "## Every metric" in (out / "results.md").read_text()

    # an interrupted run: the last line of a file was cut short
    path = out / "episodes" / "oracle__AgentR1_HotpotQA-v0.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    assert bench(out, "--policies", "oracle,random", "--limit", "5") == 0
    episodes = read_episodes(path)
    assert sorted(e["index"] for e in episodes) == [0, 1, 2, 3, 4]  # the cut episode ran again, none twice
    first = read_episodes(out / "episodes" / "random__AgentR1_MuSiQue-v0.jsonl")
    assert [e["index"] for e in first] == [0, 1, 2, 3, 4]  # 0-2 kept from the first run, 3-4 added
    assert json.loads((out / "summary.json").read_text())["results"][0]["episodes"] == 5


def test_compare_pairs_episodes_and_bounds_the_difference(tmp_path, capsys):
    bench(tmp_path / "a", "--policies", "oracle", "--limit", "4", "--envs", "AgentR1/HotpotQA-v0")
    bench(tmp_path / "b", "--policies", "random", "--limit", "4", "--envs", "AgentR1/HotpotQA-v0")
    rows = compare(tmp_path / "a", tmp_path / "b")
    assert rows[0]["difference"] == -1.0 and (rows[0]["ci_low"], rows[0]["ci_high"]) == (-1.0, -1.0)
    capsys.readouterr()
    assert main(["bench", "--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "| HotpotQA | oracle | random | 4 | 1.000 | 0.000 | -1.000 | [-1.000, -1.000] |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="holds no benchmark episodes"):
        main(["bench", "--compare", str(tmp_path / "a"), str(tmp_path / "nothing")])


def test_paired_bootstrap_interval():
    low, high = paired_bootstrap([1.0] * 50 + [0.0] * 50)
    assert 0.38 < low < 0.5 < high < 0.62


class ScriptedChat(BaseHTTPRequestHandler):
    """An OpenAI-style endpoint that searches the question, then answers from the passage it got;
    like real servers, it cuts the stop string off. The first request of all fails with 503."""

    requests: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(request)
        if len(type(self).requests) == 1:
            self.send_error(503)
            return
        assert sorted(request["stop"]) == ["</answer>", "</search>", "</tool_call>"] and self.path == "/v1/chat/completions"
        messages = request["messages"]
        if len(messages) == 1:
            question = messages[0]["content"].rsplit("Question:", 1)[-1].strip()
            text = f"<search> {question} "
        else:
            text = "<answer> unknown "
        body = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                           "usage": {"completion_tokens": 7}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_served_model_through_an_openai_compatible_endpoint(tmp_path):
    ScriptedChat.requests = []
    with serve(ScriptedChat) as url:
        agent = EndpointAgent("scripted", f"{url}/v1", concurrency=4, backoff=0.01)
        results = agent.run("AgentR1/SynthHop-v0", {}, [0, 1, 2, 3])
    assert [r.index for r in results] == [0, 1, 2, 3]
    for result in results:
        assert result.metrics["searches"] == 1 and result.metrics["invalid_actions"] == 0
        assert result.prediction == "unknown" and result.tokens == 14
    assert len(ScriptedChat.requests) == 1 + 4 * 2  # the 503 was retried


def test_an_endpoint_that_is_down_stops_the_run_and_keeps_finished_episodes(tmp_path):
    with serve(ScriptedChat) as url:
        pass  # the server is gone: its port refuses connections
    out = tmp_path / "b"
    with pytest.raises(SystemExit, match="failed after .* run the same command to resume"):
        main(["bench", "--out", str(out), "--quiet", "--envs", "AgentR1/SynthHop-v0", "--limit", "2",
              "--policies", f"oracle,openai:m@{url}/v1"])
    assert len(read_episodes(out / "episodes" / "oracle__AgentR1_SynthHop-v0.jsonl")) == 2
    agent = EndpointAgent("m", f"{url}/v1", retries=1, backoff=0.01)
    with pytest.raises(EndpointError, match="2 attempt"):
        agent.complete([{"role": "user", "content": "hi"}])


def test_bad_policies_and_paths_are_reported(tmp_path):
    with pytest.raises(SystemExit, match="no model directory"):
        main(["bench", "--out", str(tmp_path / "b"), "--envs", "AgentR1/SynthHop-v0", "--policies", f"agent:{tmp_path}/no-run"])
    with pytest.raises(SystemExit, match="unknown policy 'gpt'"):
        main(["bench", "--out", str(tmp_path / "b"), "--envs", "AgentR1/SynthHop-v0", "--policies", "gpt"])
    with pytest.raises(SystemExit, match="--data-path takes ENV=PATH"):
        main(["bench", "--out", str(tmp_path / "b"), "--envs", "AgentR1/SynthHop-v0", "--data-path", "Hotpot=x"])
    with pytest.raises(SystemExit, match="AgentR1/HotpotQA-v0: .*"):
        main(["bench", "--out", str(tmp_path / "b"), "--envs", "AgentR1/HotpotQA-v0", "--data-path", f"HotpotQA={tmp_path}/none.json"])


def test_closing_tags_come_back():
    assert _close_tags("<search> x ") == "<search> x </search>"
    assert _close_tags("<answer> y </answer>") == "<answer> y </answer>"
    assert _close_tags("plain") == "plain"


def test_naive_rag_scores_the_answer_without_the_end_of_turn_token(tmp_path, smollm2_tokenizer):
    from agent_r1.benchmarks.evaluation.agents import NaiveRAGAgent
    from agent_r1.trainer.rollout.generation import Sample
    from test_datasets_formats import HOTPOT

    class Says:  # a model that answers "Orvania" and ends its turn, as SmolLM2 does
        def generate(self, prompts, config, **kwargs):
            ids = smollm2_tokenizer.encode("Orvania") + [smollm2_tokenizer.eos_token_id]
            return [Sample(ids, [0.0] * len(ids), "eos", text=smollm2_tokenizer.decode(ids)) for _ in prompts]

    data = tmp_path / "h.json"
    data.write_text(json.dumps([HOTPOT]))
    agent = NaiveRAGAgent.__new__(NaiveRAGAgent)
    agent.name, agent.max_new_tokens, agent.generator, agent.tokenizer = "naive-rag (test)", 8, Says(), smollm2_tokenizer
    (result,) = agent.run("AgentR1/HotpotQA-v0", {"data_path": str(data)}, [0])
    assert result.prediction == "Orvania" and result.metrics["em"] == 1.0


@pytest.mark.slow
def test_model_baselines_run_on_the_samples(tmp_path, smollm2_tokenizer):
    out = tmp_path / "b"
    assert bench(out, "--policies", "naive-rag,base-tool-call", "--limit", "2", "--envs", "AgentR1/HotpotQA-v0",
                 "--max-tokens-per-turn", "16", "--env-arg", "max_turns=2") == 0
    rows = {r["policy"]: r for r in json.loads((out / "summary.json").read_text())["results"]}
    naive = rows["naive-rag (smollm2-135m-instruct)"]
    assert naive["episodes"] == 2 and naive["searches"] == 1 and naive["turns"] == 2 and naive["tokens"] > 0
    tool = rows["base-tool-call (smollm2-135m-instruct)"]
    assert tool["episodes"] == 2 and tool["tokens"] > 0
    episode = read_episodes(out / "episodes" / "naive-rag_smollm2-135m-instruct__AgentR1_HotpotQA-v0.jsonl")[0]
    assert episode["messages"][1]["content"].startswith("<search>") and episode["gold_answer"]


@pytest.mark.parametrize("spec", ["agent:typo", "naive-rag:typo", "base-tool-call:Org/Typo-7B", "agent"])
def test_an_unknown_model_fails_at_once_without_the_network(tmp_path, spec):
    import os
    import subprocess
    import sys
    import time

    # HF_HUB_OFFLINE unset (conftest sets it): a name taken for a hub id would spend a minute on network retries
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "agent_r1.trainer.cli", "bench", "--out", str(tmp_path / "b"), "--quiet",
                             "--envs", "AgentR1/SynthHop-v0", "--limit", "2", "--policies", f"oracle,{spec}"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert time.monotonic() - started < 10
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "hf:" in lines[0] and (spec == "agent" or "no model named" in lines[0])
    assert not (tmp_path / "b" / "episodes").exists() or not any((tmp_path / "b" / "episodes").iterdir())  # not even the oracle ran

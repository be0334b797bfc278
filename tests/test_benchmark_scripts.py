"""The benchmark scripts run (on small inputs) and report sane numbers."""

import json

from agent_r1.benchmarks import bm25_speed, retrieval_quality
from test_datasets_formats import HOTPOT


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
    assert "| hotpotqa | pooled | 1 | 3 |" in table


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

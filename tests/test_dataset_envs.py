import json

import gymnasium as gym
import numpy as np
import pytest

import agent_r1.envs  # noqa: F401
from agent_r1.envs.datasets import DatasetFormatError
from conftest import DATASET_SAMPLES, make_env, shared_file
from servers import retrieval_handler, serve
from test_datasets_formats import HOTPOT

OTHER = {**HOTPOT, "_id": "q2", "question": "Where is Belvik?", "answer": "Quelland",
         "supporting_facts": [["Belvik", 0]],
         "context": [["Belvik", ["Belvik is a city in Quelland."]], ["Tarskmere", ["Tarskmere is a city", " in Orvania."]]]}


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps([HOTPOT, OTHER]))
    return path


def play_oracle(env, **reset):
    env.reset(**reset)
    while True:
        _, _, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        if terminated or truncated:
            return info


def test_without_data_the_error_says_what_to_run(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENT_R1_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as excinfo:
        gym.make("AgentR1/HotpotQA-v0")
    message = str(excinfo.value)
    assert "agent-r1 data download hotpotqa --split dev" in message
    assert "AGENT_R1_DATA" in message and "data_path=" in message
    with pytest.raises(FileNotFoundError, match="is not a file"):
        gym.make("AgentR1/MuSiQue-v0", data_path=tmp_path / "nope.jsonl")


def test_the_cache_folder_is_found_through_the_variable(monkeypatch, tmp_path, tiny):
    (tmp_path / "hotpotqa").mkdir()
    (tmp_path / "hotpotqa" / "hotpot_dev_distractor_v1.json").write_text(tiny.read_text())
    monkeypatch.setenv("AGENT_R1_DATA", str(tmp_path))
    env = gym.make("AgentR1/HotpotQA-v0")
    _, info = env.reset(seed=0)
    assert info["task_id"] in {"q1", "q2"}


def test_distractor_searches_only_the_questions_own_paragraphs(tiny):
    env = gym.make("AgentR1/HotpotQA-v0", data_path=tiny, setting="distractor")
    env.reset(options={"index": 1})
    assert [p.title for p in env.unwrapped.task.retriever.passages] == ["Belvik", "Tarskmere"]
    info = play_oracle(env, options={"index": 0})
    assert info["metrics"]["em"] == 1.0 and info["metrics"]["gold_recall"] == 1.0


def test_pooled_searches_every_paragraph_of_the_split_once(tiny):
    env = gym.make("AgentR1/HotpotQA-v0", data_path=tiny)  # pooled is the default
    env.reset(options={"index": 1})
    titles = sorted(p.title for p in env.unwrapped.task.retriever.passages)
    assert titles == ["Belvik", "Belvik", "Tarskmere", "Zorvan Quist"]  # two different Belvik texts, one Tarskmere
    assert play_oracle(env, options={"index": 0})["metrics"]["gold_recall"] == 1.0


def test_corpus_setting_indexes_once_and_matches_gold_by_title(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_R1_DATA", str(tmp_path / "cache"))
    corpus = tmp_path / "wiki.jsonl"
    corpus.write_text("\n".join(json.dumps(row) for row in [
        {"id": "1", "contents": '"Zorvan Quist"\nZorvan Quist is a painter born in Tarskmere.'},
        {"id": "2", "contents": '"Tarskmere"\nTarskmere is a city in Orvania.'},
        {"id": "3", "contents": '"Tarskmere"\nThe second chunk of the Tarskmere article.'},
    ]))
    env = gym.make("AgentR1/HotpotQA-v0", data_path=tiny, setting="corpus", corpus_path=corpus, reward="process")
    (cached,) = (tmp_path / "cache" / "indexes").iterdir()
    env.reset(options={"index": 0})
    *_, info = env.step("<search>Tarskmere</search>")
    # Three hits: Zorvan Quist and two chunks of Tarskmere; the chunks of one gold article count once.
    assert len(info["tool_result"].data["ids"]) == 3
    assert info["reward_components"] == {"new_gold_passage": 2.0}
    from agent_r1.envs.datasets import env as module
    module._corpus.cache_clear()
    (cached / "meta.json").write_text("{broken")
    gym.make("AgentR1/HotpotQA-v0", data_path=tiny, setting="corpus", corpus_path=corpus)  # rebuilds the bad cache
    assert json.loads((cached / "meta.json").read_text())["num_docs"] == 3


def test_remote_setting(tiny):
    docs = [{"id": "9", "contents": '"Zorvan Quist"\nZorvan Quist is a painter born in Tarskmere.'}]
    with serve(retrieval_handler(lambda q, k: [{"document": d, "score": 1.0} for d in docs])) as url:
        env = gym.make("AgentR1/HotpotQA-v0", data_path=tiny, setting="remote", retriever_url=url, reward="process")
        env.reset(options={"index": 0})
        obs, *_, info = env.step("<search>Zorvan</search>")
    assert obs.startswith("<information>Doc 1 (Title: Zorvan Quist)")
    assert info["reward_components"] == {"new_gold_passage": 1.0}
    env.reset(options={"index": 0})  # the server is gone now
    obs, _, terminated, _, info = env.step("<search>Zorvan</search>")
    assert "retrieval server" in obs and info["reward_components"] == {"tool_error": -1.0} and not terminated


def test_bad_settings(tiny):
    with pytest.raises(ValueError, match="setting must be one of"):
        gym.make("AgentR1/HotpotQA-v0", data_path=tiny, setting="web")
    with pytest.raises(ValueError, match="needs corpus_path"):
        gym.make("AgentR1/HotpotQA-v0", data_path=tiny, setting="corpus")
    with pytest.raises(ValueError, match="needs retriever_url"):
        gym.make("AgentR1/HotpotQA-v0", data_path=tiny, setting="remote")
    env = gym.make("AgentR1/HotpotQA-v0", data_path=tiny)
    with pytest.raises(ValueError, match=r"must be an integer in \[0, 2\)"):
        env.reset(options={"index": 2})


@pytest.mark.parametrize("env_id", sorted(DATASET_SAMPLES))
def test_a_bad_index_option_is_a_value_error_that_names_the_range(env_id):
    env = make_env(env_id)
    size = len(env.unwrapped.records)
    # "3" used to raise a raw TypeError, 1.0 and True to pick a question by accident.
    for index in ("3", 1.0, True, [0], -1, size, 10**30):
        with pytest.raises(ValueError, match=rf"options\['index'\] must be an integer in \[0, {size}\) .*got "):
            env.reset(options={"index": index})
    env.reset(options={"index": size - 1})
    assert env.unwrapped.task.id == env.unwrapped.records[size - 1].id
    env.reset(options={"index": np.int64(0)})  # numpy integers, as a sampler may hand out, are integers
    assert env.unwrapped.task.id == env.unwrapped.records[0].id


def test_musique_aliases_count_as_exact_matches():
    env = gym.make("AgentR1/MuSiQue-v0", data_path=shared_file("musique/dev_100.jsonl"))
    for index, record in enumerate(env.unwrapped.records):
        if len(record.answers) > 1:
            env.reset(options={"index": index})
            *_, info = env.step(f"<answer>{record.answers[1]}</answer>")
            assert info["metrics"]["em"] == 1.0
            return
    pytest.skip("no question with aliases in the sample")


@pytest.mark.slow
@pytest.mark.parametrize("env_id", sorted(DATASET_SAMPLES))
@pytest.mark.parametrize("setting", ["distractor", "pooled"])
def test_the_oracle_answers_every_question_of_the_samples(env_id, setting):
    env = gym.make(env_id, data_path=shared_file(DATASET_SAMPLES[env_id]), setting=setting)
    records = env.unwrapped.records
    ems = [play_oracle(env, options={"index": i})["metrics"]["em"] for i in range(len(records))]
    assert sum(ems) == len(records)


def test_a_fullwiki_file_plays_in_the_corpus_setting_and_fails_clearly_where_paragraphs_are_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_R1_DATA", str(tmp_path / "cache"))
    with open(shared_file("beir/hotpotqa_corpus_27654.jsonl"), encoding="utf-8") as f:
        head = [next(f) for _ in range(200)]
    corpus = tmp_path / "beir.jsonl"
    corpus.write_text("".join(head))
    gold = json.loads(head[0])["title"]
    # The fullwiki shape: the gold article is named by supporting_facts but is not in the context.
    question = {**HOTPOT, "supporting_facts": [[gold, 0]], "context": [["Belvik", ["Belvik is a city."]]]}
    data = tmp_path / "fullwiki.json"
    data.write_text(json.dumps([question]))
    env = gym.make("AgentR1/HotpotQA-v0", data_path=data, setting="corpus", corpus_path=corpus, reward="process")
    env.reset(options={"index": 0})
    *_, info = env.step(f"<search>{gold}</search>")
    assert gold in info["tool_result"].data["titles"] and info["reward_components"] == {"new_gold_passage": 1.0}
    assert play_oracle(env, options={"index": 0})["metrics"]["em"] == 1.0
    for setting in ("distractor", "pooled"):
        with pytest.raises(DatasetFormatError, match=f"supporting fact title {gold!r} is not in the context"):
            gym.make("AgentR1/HotpotQA-v0", data_path=data, setting=setting)


def test_bamboogle_in_the_corpus_setting_the_oracle_answers_the_first_golden_answer(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_R1_DATA", str(tmp_path / "cache"))
    bamboogle = shared_file("flashrag/bamboogle_test_125.jsonl")
    env = gym.make("AgentR1/HotpotQA-v0", data_path=bamboogle, setting="corpus",
                   corpus_path=shared_file("wiki18/sample_1000.jsonl"), reward="process")
    assert len(env.unwrapped.records) == 125
    info = play_oracle(env, options={"index": 0})
    assert info["prediction"] == env.unwrapped.records[0].answers[0] == "james madison"
    assert info["metrics"]["em"] == 1.0 and info["metrics"]["searches"] == 0  # no gold passage to search for
    with pytest.raises(DatasetFormatError, match="use setting='corpus' or 'remote'"):
        gym.make("AgentR1/HotpotQA-v0", data_path=bamboogle, setting="pooled")


def test_the_retriever_argument_is_checked_before_anything_loads(tiny):
    with pytest.raises(ValueError, match="retriever must be one of"):
        gym.make("AgentR1/HotpotQA-v0", data_path=tiny, retriever="splade")
    with pytest.raises(ValueError, match="searches the pooled or corpus setting's passages"):
        gym.make("AgentR1/HotpotQA-v0", data_path=tiny, setting="distractor", retriever="dense")


@pytest.mark.parametrize("retriever", ["dense", "hybrid"])
def test_dense_and_hybrid_retrievers_search_the_pooled_and_corpus_settings(tiny, tmp_path, monkeypatch, retriever,
                                                                           dense_home):
    from test_dense import needs_dense

    if needs_dense.args[0]:
        pytest.skip(needs_dense.kwargs["reason"])
    monkeypatch.setenv("AGENT_R1_DATA", str(dense_home))
    env = gym.make("AgentR1/HotpotQA-v0", data_path=tiny, retriever=retriever, reward="process")
    info = play_oracle(env, seed=0, options={"index": 1})
    assert info["metrics"]["em"] == 1.0 and info["metrics"]["gold_recall"] == 1.0
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "title": t, "text": x}) + "\n" for i, (t, x) in enumerate(
        [("Belvik", "Belvik is a city in Quelland."), ("Tarskmere", "Tarskmere is a city in Orvania.")])))
    env = gym.make("AgentR1/HotpotQA-v0", data_path=tiny, setting="corpus", corpus_path=corpus, retriever=retriever)
    env.reset(seed=0, options={"index": 1})
    observation, *_ = env.step("<search> Which city lies in Quelland? </search>")
    assert observation.index("Belvik") < observation.index("Tarskmere")

import json

import pytest

from agent_r1.envs.datasets import DatasetFormatError, load_records
from agent_r1.envs.datasets.corpus import load_passages
from conftest import shared_file

HOTPOT = {
    "_id": "q1",
    "question": "In which country was Zorvan Quist born?",
    "answer": "Orvania",
    "type": "bridge",
    "supporting_facts": [["Zorvan Quist", 0], ["Tarskmere", 0], ["Zorvan Quist", 1]],
    "context": [
        ["Belvik", ["Belvik is a city."]],
        ["Tarskmere", ["Tarskmere is a city", " in Orvania."]],
        ["Zorvan Quist", ["Zorvan Quist is a painter.", " He was born in Tarskmere."]],
    ],
}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("container", ["array", "lines"])
def test_hotpot_records_from_an_array_or_json_lines(tmp_path, container):
    text = json.dumps([HOTPOT, {**HOTPOT, "_id": "q2"}]) if container == "array" else json.dumps(HOTPOT) + "\n\n" + json.dumps({**HOTPOT, "_id": "q2"}) + "\n"
    records = load_records("hotpotqa", write(tmp_path, "h.json", text))
    assert [r.id for r in records] == ["q1", "q2"]
    record = records[0]
    assert record.answers == ("Orvania",)
    assert [p.title for p in record.paragraphs] == ["Belvik", "Tarskmere", "Zorvan Quist"]
    assert record.paragraphs[1].text == "Tarskmere is a city in Orvania."
    assert [p.title for p in record.supporting] == ["Zorvan Quist", "Tarskmere"]  # in order, once each


def test_musique_keys_paragraphs_by_title_and_text_and_accepts_aliases(tmp_path):
    record = {
        "id": "2hop__1_2", "question": "Q?", "answer": "Stanley", "answer_aliases": ["Stan"], "answerable": True,
        "paragraphs": [
            {"idx": 0, "title": "Same", "paragraph_text": "first text", "is_supporting": False},
            {"idx": 1, "title": "Same", "paragraph_text": "second text", "is_supporting": True},
            {"idx": 2, "title": "Other", "paragraph_text": "third", "is_supporting": True},
        ],
        "question_decomposition": [{"paragraph_support_idx": 2}, {"paragraph_support_idx": 1}],
    }
    (loaded,) = load_records("musique", write(tmp_path, "m.jsonl", json.dumps(record)))
    assert loaded.answers == ("Stanley", "Stan")
    assert loaded.paragraphs[0].id != loaded.paragraphs[1].id
    assert [p.text for p in loaded.supporting] == ["third", "second text"]  # the decomposition's order
    assert loaded.type == "2hop"


@pytest.mark.parametrize(
    "dataset, text, message",
    [
        ("hotpotqa", "", "the file is empty"),
        ("hotpotqa", '[{"_id": "a"', "broken JSON array at line 1"),
        ("hotpotqa", '{"_id": "a"}\n{oops\n', "line 2 is not a JSON object"),
        ("hotpotqa", "[1]", "record 0 (id ?): expected a JSON object, got int"),
        ("hotpotqa", json.dumps([{k: v for k, v in HOTPOT.items() if k != "context"}]), "record 0 (id q1): missing field 'context'"),
        ("hotpotqa", json.dumps([{**HOTPOT, "answer": 3}]), "field 'answer' should be str, got int"),
        ("hotpotqa", json.dumps([{**HOTPOT, "context": [["t"]]}]), "context[0] should be [title, [sentences]]"),
        ("hotpotqa", json.dumps([{**HOTPOT, "supporting_facts": [["Nowhere", 0]]}]), "supporting fact title 'Nowhere' is not in the context"),
        ("musique", json.dumps({"id": "m", "question": "q", "answer": "a", "paragraphs": [{"title": 1}]}), "paragraphs[0] should have"),
        ("musique", json.dumps({"id": "m", "question": "q", "answer": "a", "paragraphs": [], "answer_aliases": "x"}), "answer_aliases"),
        ("hotpotqa", "[]", "no records"),
    ],
)
def test_corrupt_files_name_the_file_the_record_and_the_problem(tmp_path, dataset, text, message):
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(DatasetFormatError) as excinfo:
        load_records(dataset, path)
    assert str(path) in str(excinfo.value) and message in str(excinfo.value)


def test_non_utf8_and_unknown_dataset(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b"[\xff]")
    with pytest.raises(DatasetFormatError, match="not UTF-8"):
        load_records("hotpotqa", path)
    with pytest.raises(ValueError, match="unknown dataset 'squad'"):
        load_records("squad", path)


@pytest.mark.parametrize(
    "dataset, relative, count, paragraphs",
    [
        ("hotpotqa", "hotpotqa/dev_distractor_500.jsonl", 500, 10),
        ("hotpotqa", "hotpotqa/train_100.json", 100, 10),
        ("2wikimultihopqa", "2wikimultihopqa/dev_500.jsonl", 500, 10),
        ("musique", "musique/dev_100.jsonl", 100, 20),
        ("musique", "musique/train_100.json", 100, 20),
    ],
)
def test_the_real_samples_load(dataset, relative, count, paragraphs):
    records = load_records(dataset, shared_file(relative))
    assert len(records) == count
    # A few HotpotQA questions come with fewer context paragraphs than the usual 10.
    assert max(len(r.paragraphs) for r in records) == paragraphs
    assert sum(len(r.paragraphs) == paragraphs for r in records) >= 0.99 * count
    assert all(2 <= len(r.supporting) <= 4 for r in records)
    assert all(set(p.id for p in r.supporting) <= set(p.id for p in r.paragraphs) for r in records)


def test_passage_files_in_both_layouts(tmp_path):
    path = write(tmp_path, "c.jsonl", json.dumps({"id": "7", "contents": '"Evan Morris"\nEvan Morris was a lobbyist.'}) + "\n"
                 + json.dumps({"title": "Belvik", "text": "Belvik is a city."}) + "\n")
    first, second = load_passages(path)
    assert (first.id, first.title, first.text) == ("7", "Evan Morris", "Evan Morris was a lobbyist.")
    assert (second.id, second.title) == ("1", "Belvik")
    with pytest.raises(DatasetFormatError, match="line 1 should be"):
        load_passages(write(tmp_path, "bad.jsonl", '{"body": "x"}\n'))

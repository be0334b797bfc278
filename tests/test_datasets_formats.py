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


MUSIQUE = {
    "id": "2hop__1_2", "question": "Q?", "answer": "A",
    "paragraphs": [{"idx": 0, "title": "T", "paragraph_text": "text", "is_supporting": True}],
    "question_decomposition": [{"paragraph_support_idx": 0}],
}
HUGE = "9" * 5000  # over Python's int-string limit (4300 digits)


def paragraph(**change):
    return {**MUSIQUE, "paragraphs": [{**MUSIQUE["paragraphs"][0], **change}]}


@pytest.mark.parametrize(
    "dataset, text, message",
    [
        # hostile JSON: the parser's RecursionError and ValueError never escape
        ("hotpotqa", "[" * 100_000, "broken JSON array at line 1, column 2 (record 0): nested too deeply"),
        ("hotpotqa", json.dumps([HOTPOT])[:-1] + ", " + "[" * 100_000, "(record 1): nested too deeply"),
        ("musique", json.dumps(MUSIQUE) + "\n" + '{"id": ' + "[" * 100_000, "line 2 is not a JSON object (nested too deeply)"),
        ("hotpotqa", f"[{HUGE}]", "record 0 (id ?): expected a JSON object, got an integer of 5000 digits"),
        ("hotpotqa", json.dumps([{**HOTPOT, "_id": 0}]).replace(": 0", ": " + HUGE, 1), "field '_id' should be a string, got an integer of 5000 digits"),
        ("musique", json.dumps(paragraph(idx=0)).replace('"idx": 0', '"idx": ' + HUGE),
         "record 0 (line 1, id 2hop__1_2): paragraphs[0].idx should be int, got an integer of 5000 digits"),
        ("hotpotqa", json.dumps([{**HOTPOT, "supporting_facts": [["Belvik", 0]]}]).replace('"Belvik", 0', f'"Belvik", {HUGE}'),
         "supporting_facts[0] should be [title, sentence_index], got [str, an integer of 5000 digits]"),
        # wrong types inside records
        ("musique", json.dumps({**MUSIQUE, "paragraphs": "T: text"}), "record 0 (line 1, id 2hop__1_2): field 'paragraphs' should be list, got str"),
        ("musique", json.dumps(paragraph(is_supporting=[True])), "paragraphs[0].is_supporting should be true or false, got list"),
        ("musique", json.dumps(paragraph(idx="0")), "paragraphs[0].idx should be int, got str"),
        ("musique", json.dumps({**MUSIQUE, "question_decomposition": [{"paragraph_support_idx": [0]}]}),
         "question_decomposition[0].paragraph_support_idx should be int, got list"),
        ("musique", json.dumps({**MUSIQUE, "question_decomposition": "0"}), "field 'question_decomposition' should be list, got str"),
        ("musique", json.dumps({**MUSIQUE, "question_decomposition": [0]}), "question_decomposition[0] should be an object, got int"),
        ("musique", json.dumps({**MUSIQUE, "question": 7}), "record 0 (line 1, id 2hop__1_2): field 'question' should be str, got int"),
        ("musique", json.dumps({**MUSIQUE, "id": ["x"]}), "record 0 (line 1, id ?): field 'id' should be a string, got list"),
        ("hotpotqa", json.dumps([{**HOTPOT, "question": 7}]), "record 0 (id q1): field 'question' should be str, got int"),
        ("hotpotqa", json.dumps([{**HOTPOT, "context": "Belvik"}]), "field 'context' should be list, got str"),
        ("hotpotqa", json.dumps([{**HOTPOT, "context": [{"title": "Belvik"}]}]), "context[0] should be [title, [sentences]], got dict"),
        ("hotpotqa", json.dumps([{**HOTPOT, "context": [["Belvik", "Belvik is a city."]]}]), "context[0] should be [title, [sentences]], got [str, str]"),
        ("hotpotqa", json.dumps([{**HOTPOT, "supporting_facts": [["Belvik", "0"]]}]), "supporting_facts[0] should be [title, sentence_index], got [str, str]"),
        ("hotpotqa", json.dumps([{**HOTPOT, "type": ["bridge"]}]), "field 'type' should be str, got list"),
        # one question twice: episodes and benchmark results are keyed by its id
        ("hotpotqa", json.dumps([HOTPOT, {**HOTPOT, "_id": "q2"}, HOTPOT]), "id 'q1' appears twice: record 0 and record 2"),
        ("musique", json.dumps(MUSIQUE) + "\n\n" + json.dumps(MUSIQUE), "id '2hop__1_2' appears twice: record 0 (line 1) and record 1 (line 3)"),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)
def test_hostile_files_raise_dataset_format_error_naming_file_record_and_field(tmp_path, dataset, text, message):
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(DatasetFormatError) as excinfo:
        load_records(dataset, path)
    assert str(excinfo.value).startswith(f"{path}: ") and message in str(excinfo.value)


def test_a_huge_integer_in_a_field_no_loader_reads_is_harmless(tmp_path):
    text = json.dumps({**MUSIQUE, "answerable": 0}).replace('"answerable": 0', '"answerable": ' + HUGE)
    (record,) = load_records("musique", write(tmp_path, "m.jsonl", text))
    assert record.id == "2hop__1_2" and [p.title for p in record.supporting] == ["T"]


def test_integer_ids_null_types_and_a_byte_order_mark_are_accepted(tmp_path):
    path = tmp_path / "h.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{**HOTPOT, "_id": 5, "type": None}]).encode())
    (record,) = load_records("hotpotqa", path)
    assert (record.id, record.type) == ("5", "")


@pytest.mark.parametrize(
    "data, message",
    [
        (b'{"title": "A", "text": "x"}\n{"title": "B", "text": "caf\xe9"}\n', "line 2 is not UTF-8 text (invalid continuation byte"),
        (b"[" * 100_000, "broken JSON array at line 1, column 2 (record 0): nested too deeply"),  # read as one array
        (b'{"id": ' + HUGE.encode() + b', "text": "x"}\n', "line 1: field 'id' should be a string, got an integer of 5000 digits"),
        (b'{"title": ["A"], "text": "x"}\n', "line 1: field 'title' should be a string, got list"),
        (b'{"id": true, "contents": "x"}\n', "line 1: field 'id' should be a string, got bool"),
    ],
)
def test_corrupt_passage_files_raise_dataset_format_error(tmp_path, data, message):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(data)
    with pytest.raises(DatasetFormatError) as excinfo:
        load_passages(path)
    assert str(excinfo.value).startswith(f"{path}: ") and message in str(excinfo.value)


def test_json_lines_split_only_at_newlines(tmp_path):
    # U+2028 and U+0085 are legal unescaped inside a JSON string; str.splitlines would cut the record there.
    text = json.dumps({**MUSIQUE, "question": "Q\u2028two\x85lines?"}, ensure_ascii=False) + "\r\n"
    (record,) = load_records("musique", write(tmp_path, "m.jsonl", text))
    assert record.question == "Q\u2028two\x85lines?"


# Open-domain files: the corpus and remote settings search elsewhere and match gold by title.
FULLWIKI = {**HOTPOT, "context": [["Belvik", ["Belvik is a city."]], ["Tarskmere", ["Tarskmere is a city."]]]}  # no Zorvan Quist


def test_a_fullwiki_record_without_its_gold_paragraph_loads_only_where_paragraphs_are_not_needed(tmp_path):
    path = write(tmp_path, "fullwiki.json", json.dumps([FULLWIKI]))
    (record,) = load_records("hotpotqa", path, need_paragraphs=False)
    assert [p.title for p in record.supporting] == ["Zorvan Quist", "Tarskmere"]
    assert record.supporting[1] in record.paragraphs  # a gold paragraph that is there stays the real one
    with pytest.raises(DatasetFormatError, match="supporting fact title 'Zorvan Quist' is not in the context"):
        load_records("hotpotqa", path)


def test_2wiki_and_musique_records_without_paragraphs_load_where_they_are_not_needed(tmp_path):
    wiki = {k: v for k, v in HOTPOT.items() if k != "context"}
    (record,) = load_records("2wikimultihopqa", write(tmp_path, "w.json", json.dumps([wiki])), need_paragraphs=False)
    assert record.paragraphs == () and [p.title for p in record.supporting] == ["Zorvan Quist", "Tarskmere"]
    bare = {k: v for k, v in wiki.items() if k != "supporting_facts"}
    (record,) = load_records("2wikimultihopqa", write(tmp_path, "w2.json", json.dumps([bare])), need_paragraphs=False)
    assert record.supporting == ()

    musique = {k: v for k, v in MUSIQUE.items() if k != "paragraphs"}
    path = write(tmp_path, "m.jsonl", json.dumps(musique) + "\n")
    (plain,) = load_records("musique", path, need_paragraphs=False)
    assert plain.paragraphs == () and plain.supporting == ()  # no gold named: outcome rewards only
    with pytest.raises(DatasetFormatError, match="missing field 'paragraphs'"):
        load_records("musique", path)


def test_flashrag_questions_load_with_every_golden_answer_where_paragraphs_are_not_needed(tmp_path):
    path = write(tmp_path, "q.jsonl", json.dumps({"id": "test_0", "question": "Who?", "golden_answers": ["Ann", "Anne", "Ann"]}))
    (record,) = load_records("hotpotqa", path, need_paragraphs=False)
    assert (record.id, record.answers, record.paragraphs, record.supporting) == ("test_0", ("Ann", "Anne"), (), ())
    with pytest.raises(DatasetFormatError, match="use setting='corpus' or 'remote'"):
        load_records("hotpotqa", path)
    bad = write(tmp_path, "bad.jsonl", json.dumps({"id": "x", "question": "Who?", "golden_answers": []}))
    with pytest.raises(DatasetFormatError, match="'golden_answers' should be a non-empty list of strings"):
        load_records("musique", bad, need_paragraphs=False)


@pytest.mark.parametrize("relative, count", [("flashrag/bamboogle_test_125.jsonl", 125), ("flashrag/nq_test_1000.jsonl", 1000)])
def test_the_real_flashrag_files_load(relative, count):
    records = load_records("hotpotqa", shared_file(relative), need_paragraphs=False)
    assert len(records) == count and all(r.answers and not r.supporting for r in records)


PASSAGE_ROWS = [
    {"id": "7", "contents": '"Evan Morris"\nEvan Morris was a lobbyist.'},
    {"id": "8", "contents": "Belvik\nBelvik is a city."},
    {"title": "Tarskmere", "text": "Tarskmere is a city."},
    {"id": 9, "title": "Orvania", "text": "Orvania is a country."},
    {"_id": "54942484", "title": "Gornja Suvaja, Croatia", "text": "A village.", "metadata": {"url": "https://x"}},
]


@pytest.mark.parametrize("container", ["lines", "array"])
def test_passage_files_in_every_form_as_json_lines_or_an_array(tmp_path, container):
    text = json.dumps(PASSAGE_ROWS) if container == "array" else "\n".join(json.dumps(row) for row in PASSAGE_ROWS)
    passages = load_passages(write(tmp_path, "c.json", text))
    assert [(p.id, p.title) for p in passages] == [
        ("7", "Evan Morris"), ("8", "Belvik"), ("2", "Tarskmere"), ("9", "Orvania"), ("54942484", "Gornja Suvaja, Croatia")]
    assert passages[1].text == "Belvik is a city."
    with pytest.raises(DatasetFormatError, match="record 1 should be"):
        load_passages(write(tmp_path, "bad.json", json.dumps([PASSAGE_ROWS[0], {"body": "x"}])))
    with pytest.raises(DatasetFormatError, match="record 0: field '_id' should be a string, got list"):
        load_passages(write(tmp_path, "bad_id.json", json.dumps([{"_id": ["1"], "title": "T", "text": "x"}])))


def test_a_slice_of_the_real_beir_shard_loads(tmp_path):
    with open(shared_file("beir/hotpotqa_corpus_27654.jsonl"), encoding="utf-8") as f:
        head = [next(f) for _ in range(200)]
    passages = load_passages(write(tmp_path, "beir.jsonl", "".join(head)))
    first = json.loads(head[0])
    assert len(passages) == 200 and (passages[0].id, passages[0].title, passages[0].text) == (first["_id"], first["title"], first["text"])
    assert len({p.id for p in passages}) == 200

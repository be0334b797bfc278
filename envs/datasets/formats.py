"""Loaders for the official file formats of HotpotQA, 2WikiMultihopQA and MuSiQue.

Each accepts a JSON array (the official HotpotQA and 2Wiki files) or JSON Lines
(the official MuSiQue files, and samples), validates the fields it needs, and
reports a bad file with the file, the record and what was expected. Whatever
the bytes, a loader raises DatasetFormatError, never a parser's own error
(json_files.py reads the files).

`need_paragraphs=False` is for the open-domain settings (corpus, remote), which
search elsewhere and match gold by title: there a record's own paragraphs may
be missing or lack the gold ones (the official HotpotQA fullwiki file), and
FlashRAG / Search-R1 question files (`{"id", "question", "golden_answers"}`)
are accepted too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from agent_r1.envs.datasets.json_files import kind, read_numbered_records
from agent_r1.envs.datasets.records import DatasetFormatError, QARecord, make_paragraph
from agent_r1.tools.retriever import Passage


class _Record:
    """Field access on one raw record with errors that say where and what."""

    def __init__(self, path: Path, index: int, raw: Any, id_field: str, line: int | None = None,
                 need_paragraphs: bool = True) -> None:
        self.path, self.index, self.raw, self.line = path, index, raw, line
        self.need_paragraphs = need_paragraphs
        self.id, self.has_id = "?", False
        if not isinstance(raw, dict):
            self.fail(f"expected a JSON object, got {kind(raw)}")
        self.has_id = raw.get(id_field) is not None
        if not self.has_id:
            self.id = f"#{index}"
        elif _is_int(raw[id_field]) or isinstance(raw[id_field], str):
            self.id = str(raw[id_field])
        else:
            self.fail(f"field {id_field!r} should be a string, got {kind(raw[id_field])}")

    @property
    def position(self) -> str:
        return f"record {self.index}" + (f" (line {self.line})" if self.line is not None else "")

    def fail(self, problem: str):
        line = f"line {self.line}, " if self.line is not None else ""
        raise DatasetFormatError(f"{self.path}: record {self.index} ({line}id {self.id}): {problem}")

    def get(self, field: str, expected: type | tuple[type, ...]) -> Any:
        if field not in self.raw:
            self.fail(f"missing field {field!r}")
        value = self.raw[field]
        if not isinstance(value, expected):
            names = " or ".join(k.__name__ for k in (expected if isinstance(expected, tuple) else (expected,)))
            self.fail(f"field {field!r} should be {names}, got {kind(value)}")
        return value

    def optional(self, field: str, expected: type, default: Any) -> Any:
        """A field that may be absent or null."""
        return default if self.raw.get(field) is None else self.get(field, expected)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not an index


def _titled_context(record: _Record) -> tuple[list[Passage], dict[str, Passage]]:
    """HotpotQA/2Wiki context: [[title, [sentence, ...]], ...]; optional where paragraphs are not needed."""
    paragraphs, by_title = [], {}
    context = record.get("context", list) if record.need_paragraphs else record.optional("context", list, [])
    for position, entry in enumerate(context):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], list)
                and all(isinstance(s, str) for s in entry[1])):
            record.fail(f"context[{position}] should be [title, [sentences]], got {_shape(entry)}")
        title, sentences = entry
        paragraph = make_paragraph(title, " ".join(s.strip() for s in sentences))
        paragraphs.append(paragraph)
        by_title.setdefault(title, paragraph)
    return paragraphs, by_title


def _shape(value: Any) -> str:
    """A short picture of a wrong value: its type, and for a list its items' types."""
    if isinstance(value, list):
        items = [_shape(v) if isinstance(v, list) else kind(v) for v in value[:4]]
        return "[" + ", ".join(items + (["..."] if len(value) > 4 else [])) + "]"
    return kind(value)


def _supporting_by_title(record: _Record, by_title: dict[str, Passage]) -> tuple[Passage, ...]:
    """The gold paragraphs in order. Where paragraphs are not needed, a gold title outside the
    context (the fullwiki file) is a title-only passage: gold is matched by title there."""
    titles = []
    facts = record.get("supporting_facts", list) if record.need_paragraphs else record.optional("supporting_facts", list, [])
    for position, fact in enumerate(facts):
        if not (isinstance(fact, list) and len(fact) == 2 and isinstance(fact[0], str) and _is_int(fact[1])):
            record.fail(f"supporting_facts[{position}] should be [title, sentence_index], got {_shape(fact)}")
        if fact[0] not in by_title:
            if record.need_paragraphs:
                record.fail(f"supporting fact title {fact[0]!r} is not in the context")
            by_title[fact[0]] = make_paragraph(fact[0], "")
        if fact[0] not in titles:
            titles.append(fact[0])
    return tuple(by_title[t] for t in titles)


def parse_hotpot_style(record: _Record) -> QARecord:
    """HotpotQA and 2WikiMultihopQA share the record layout."""
    paragraphs, by_title = _titled_context(record)
    return QARecord(
        id=record.id,
        question=record.get("question", str),
        answers=(record.get("answer", str),),
        paragraphs=tuple(paragraphs),
        supporting=_supporting_by_title(record, by_title),
        type=record.optional("type", str, ""),
    )


def _musique_paragraphs(record: _Record) -> tuple[list[Passage], dict[int, tuple[Passage, bool]]]:
    """The paragraphs, and by their `idx` (which the decomposition refers to) each with its is_supporting flag."""
    paragraphs, by_idx = [], {}
    entries = record.get("paragraphs", list) if record.need_paragraphs else record.optional("paragraphs", list, [])
    for position, entry in enumerate(entries):
        if not (isinstance(entry, dict) and isinstance(entry.get("title"), str) and isinstance(entry.get("paragraph_text"), str)):
            record.fail(f"paragraphs[{position}] should have a string 'title' and 'paragraph_text'")
        idx, flag = entry.get("idx", position), entry.get("is_supporting", False)
        if not _is_int(idx):
            record.fail(f"paragraphs[{position}].idx should be int, got {kind(idx)}")
        if not isinstance(flag, bool):
            record.fail(f"paragraphs[{position}].is_supporting should be true or false, got {kind(flag)}")
        paragraph = make_paragraph(entry["title"], entry["paragraph_text"])
        paragraphs.append(paragraph)
        by_idx[idx] = (paragraph, flag)
    return paragraphs, by_idx


def _decomposition_order(record: _Record) -> list[Any]:
    """The paragraph idx of each hop, in order (None for a hop without one)."""
    order = []
    for position, step in enumerate(record.optional("question_decomposition", list, [])):
        if not isinstance(step, dict):
            record.fail(f"question_decomposition[{position}] should be an object, got {kind(step)}")
        idx = step.get("paragraph_support_idx")
        if idx is not None and not _is_int(idx):
            record.fail(f"question_decomposition[{position}].paragraph_support_idx should be int, got {kind(idx)}")
        order.append(idx)
    return order


def parse_musique(record: _Record) -> QARecord:
    paragraphs, by_idx = _musique_paragraphs(record)
    # The decomposition gives the hop order; is_supporting is the fallback. A record without
    # paragraphs (open-domain use) names no gold: outcome rewards only.
    supporting = [by_idx[i][0] for i in _decomposition_order(record) if i in by_idx]
    supporting += [p for p, flag in by_idx.values() if flag and p not in supporting]
    aliases = record.raw.get("answer_aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        record.fail("field 'answer_aliases' should be a list of strings")
    answer = record.get("answer", str)
    return QARecord(
        id=record.id,
        question=record.get("question", str),
        answers=(answer, *(a for a in aliases if a != answer)),
        paragraphs=tuple(paragraphs),
        supporting=tuple(dict.fromkeys(supporting)),
        type=record.id.split("__")[0] if "__" in record.id else "",
    )


def _string_list(record: _Record, field: str) -> list[str]:
    value = record.raw.get(field)
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        record.fail(f"field {field!r} should be a non-empty list of strings")
    return value


def is_flashrag(raw: Any) -> bool:
    """A FlashRAG / Search-R1 question: golden answers, and no dataset answer field."""
    return isinstance(raw, dict) and "golden_answers" in raw and "answer" not in raw


def parse_flashrag(record: _Record) -> QARecord:
    """{"id", "question", "golden_answers"}: no passages are named, so only outcome rewards are possible."""
    if record.need_paragraphs:
        record.fail("a FlashRAG question ({id, question, golden_answers}) has no paragraphs, which the distractor "
                    "and pooled settings search; use setting='corpus' or 'remote'")
    return QARecord(
        id=record.id,
        question=record.get("question", str),
        answers=tuple(dict.fromkeys(_string_list(record, "golden_answers"))),
        paragraphs=(),
        supporting=(),
    )


DATASETS: dict[str, tuple[str, Callable[[_Record], QARecord]]] = {
    "hotpotqa": ("_id", parse_hotpot_style),
    "2wikimultihopqa": ("_id", parse_hotpot_style),
    "musique": ("id", parse_musique),
}


def iter_records(dataset: str, path: str | Path, *, need_paragraphs: bool = True) -> Iterator[QARecord]:
    """The file's records, parsed; a question id seen twice is an error, since episodes and
    benchmark results are keyed by it. A FlashRAG question is recognised by its shape, in any dataset's file."""
    try:
        id_field, parse = DATASETS[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}") from None
    path = Path(path)
    seen: dict[str, str] = {}
    for index, (line, raw) in enumerate(read_numbered_records(path)):
        flashrag = is_flashrag(raw)
        record = _Record(path, index, raw, "id" if flashrag else id_field, line, need_paragraphs)
        if record.has_id:
            if record.id in seen:
                raise DatasetFormatError(f"{path}: id {record.id!r} appears twice: {seen[record.id]} and {record.position}")
            seen[record.id] = record.position
        yield parse_flashrag(record) if flashrag else parse(record)


def load_records(dataset: str, path: str | Path, *, need_paragraphs: bool = True) -> list[QARecord]:
    """need_paragraphs: the setting searches the records' own paragraphs (distractor, pooled)
    and so needs them, gold included; the open-domain settings do not."""
    records = list(iter_records(dataset, path, need_paragraphs=need_paragraphs))
    if not records:
        raise DatasetFormatError(f"{path}: no records")
    return records

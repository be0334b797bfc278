"""Loaders for the official file formats of HotpotQA, 2WikiMultihopQA and MuSiQue.

Each accepts a JSON array (the official HotpotQA and 2Wiki files) or JSON Lines
(the official MuSiQue files, and samples), validates the fields it needs, and
reports a bad file with the file, the record and what was expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

from agent_r1.envs.datasets.records import DatasetFormatError, QARecord, make_paragraph
from agent_r1.tools.retriever import Passage


def read_json_records(path: str | Path) -> list[Any]:
    """The records of a JSON array or JSON Lines file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    stripped = text.lstrip()
    if not stripped:
        raise DatasetFormatError(f"{path}: the file is empty")
    if stripped[0] == "[":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(f"{path}: broken JSON array at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        return records
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(f"{path}: line {number} is not a JSON object ({exc.msg}); expected JSON Lines or a JSON array") from None
    return records


class _Record:
    """Field access on one raw record with errors that say where and what."""

    def __init__(self, path: Path, index: int, raw: Any, id_field: str) -> None:
        self.path, self.index, self.raw = path, index, raw
        if not isinstance(raw, dict):
            self.fail(f"expected a JSON object, got {type(raw).__name__}")
        self.id = str(raw.get(id_field, f"#{index}"))

    def fail(self, problem: str):
        raise DatasetFormatError(f"{self.path}: record {self.index} (id {getattr(self, 'id', '?')}): {problem}")

    def get(self, field: str, kind: type | tuple[type, ...]) -> Any:
        if field not in self.raw:
            self.fail(f"missing field {field!r}")
        value = self.raw[field]
        if not isinstance(value, kind):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            self.fail(f"field {field!r} should be {names}, got {type(value).__name__}")
        return value


def _titled_context(record: _Record) -> tuple[list[Passage], dict[str, Passage]]:
    """HotpotQA/2Wiki context: [[title, [sentence, ...]], ...]."""
    paragraphs, by_title = [], {}
    for position, entry in enumerate(record.get("context", list)):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], list)
                and all(isinstance(s, str) for s in entry[1])):
            record.fail(f"context[{position}] should be [title, [sentences]]")
        title, sentences = entry
        paragraph = make_paragraph(title, " ".join(s.strip() for s in sentences))
        paragraphs.append(paragraph)
        by_title.setdefault(title, paragraph)
    return paragraphs, by_title


def _supporting_by_title(record: _Record, by_title: dict[str, Passage]) -> tuple[Passage, ...]:
    titles = []
    for position, fact in enumerate(record.get("supporting_facts", list)):
        if not (isinstance(fact, list) and len(fact) == 2 and isinstance(fact[0], str)):
            record.fail(f"supporting_facts[{position}] should be [title, sentence_index]")
        if fact[0] not in by_title:
            record.fail(f"supporting fact title {fact[0]!r} is not in the context")
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
        type=str(record.raw.get("type", "")),
    )


def parse_musique(record: _Record) -> QARecord:
    paragraphs, by_idx = [], {}
    for position, entry in enumerate(record.get("paragraphs", list)):
        if not (isinstance(entry, dict) and isinstance(entry.get("title"), str) and isinstance(entry.get("paragraph_text"), str)):
            record.fail(f"paragraphs[{position}] should have a string 'title' and 'paragraph_text'")
        paragraph = make_paragraph(entry["title"], entry["paragraph_text"])
        paragraphs.append(paragraph)
        by_idx[entry.get("idx", position)] = (paragraph, bool(entry.get("is_supporting")))
    # The decomposition gives the hop order; is_supporting is the fallback.
    order = [step.get("paragraph_support_idx") for step in record.raw.get("question_decomposition", []) if isinstance(step, dict)]
    supporting = [by_idx[i][0] for i in order if i in by_idx]
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


DATASETS: dict[str, tuple[str, Callable[[_Record], QARecord]]] = {
    "hotpotqa": ("_id", parse_hotpot_style),
    "2wikimultihopqa": ("_id", parse_hotpot_style),
    "musique": ("id", parse_musique),
}


def iter_records(dataset: str, path: str | Path) -> Iterator[QARecord]:
    try:
        id_field, parse = DATASETS[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}") from None
    path = Path(path)
    for index, raw in enumerate(read_json_records(path)):
        yield parse(_Record(path, index, raw, id_field))


def load_records(dataset: str, path: str | Path) -> list[QARecord]:
    records = list(iter_records(dataset, path))
    if not records:
        raise DatasetFormatError(f"{path}: no records")
    return records

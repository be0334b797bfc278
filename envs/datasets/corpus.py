"""Passage files for the open-domain setting, indexed once and cached on disk."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from agent_r1.tools.paths import DEFAULT_ENCODER, data_home
from agent_r1.envs.datasets.json_files import decode_json, kind, read_numbered_records
from agent_r1.envs.datasets.records import DatasetFormatError
from agent_r1.tools.bm25 import BM25Index
from agent_r1.tools.retriever import BM25Retriever, Passage, Retriever, build_retriever, passage_from_contents

logger = logging.getLogger(__name__)


def load_passages(path: str | Path) -> list[Passage]:
    """JSON Lines or one JSON array of passages, each {"id", "contents": "\\"Title\\"\\ntext"} (the
    DPR/Search-R1/FlashRAG dumps), {"title", "text"} with an optional "id", or BEIR's {"_id", "title", "text"}."""
    path = Path(path)
    passages = _array_passages(path) if _starts_an_array(path) else _line_passages(path)
    if not passages:
        raise DatasetFormatError(f"{path}: no passages")
    return passages


def _starts_an_array(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return head.startswith(b"[")


def _array_passages(path: Path) -> list[Passage]:
    # Read whole: an array has no lines to report by, and json_files names the broken record.
    return [_passage_from_row(path, f"record {index}", index, row)
            for index, (_, row) in enumerate(read_numbered_records(path))]


def _line_passages(path: Path) -> list[Passage]:
    passages = []
    with open(path, "rb") as f:  # decoded line by line, so that a bad byte is reported with its line
        for number, raw in enumerate(f, start=1):
            line = _decode_line(path, number, raw)
            if line.strip():
                passages.append(_passage(path, number, line))
    return passages


def _decode_line(path: Path, number: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig" if number == 1 else "utf-8")  # -sig: a byte-order mark is not part of the JSON
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(f"{path}: line {number} is not UTF-8 text ({exc.reason} at byte {exc.start} of the line)") from None


def _passage(path: Path, number: int, line: str) -> Passage:
    try:
        row = decode_json(line)
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(f"{path}: line {number} is not JSON ({exc.msg})") from None
    return _passage_from_row(path, f"line {number}", number - 1, row)


def _passage_from_row(path: Path, where: str, position: int, row: object) -> Passage:
    """One passage; without an id, its position in the file is its id."""
    if not isinstance(row, dict) or not (isinstance(row.get("contents"), str) or isinstance(row.get("text"), str)):
        raise DatasetFormatError(f'{path}: {where} should be {{"id", "contents"}}, {{"title", "text"}} or {{"_id", "title", "text"}}')
    id_field = "id" if row.get("id") is not None else "_id"  # BEIR names it _id
    passage_id, title = row.get(id_field), row.get("title")  # null counts as absent
    for field, value, ok in ((id_field, passage_id, isinstance(passage_id, (str, int)) and not isinstance(passage_id, bool)),
                             ("title", title, isinstance(title, str))):
        if value is not None and not ok:
            raise DatasetFormatError(f"{path}: {where}: field {field!r} should be a string, got {kind(value)}")
    passage_id = str(position if passage_id is None else passage_id)
    if isinstance(row.get("contents"), str):
        return passage_from_contents(passage_id, row["contents"])
    return Passage(passage_id, title or "", row["text"])


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def corpus_retriever(path: str | Path, *, cache_dir: Path | None = None) -> BM25Retriever:
    """A BM25 retriever over a passage file; the index is built once and reloaded from the cache."""
    path = Path(path)
    passages = load_passages(path)
    cache = (cache_dir or data_home() / "indexes") / f"{path.stem}-{_cache_key(path)}"
    if cache.exists():
        try:
            return BM25Retriever(passages, index=BM25Index.load(cache))
        except ValueError as exc:
            logger.warning("rebuilding the index of %s: %s", path, exc)
    start = time.perf_counter()
    retriever = BM25Retriever(passages)
    retriever.index.save(cache)
    logger.info("indexed %d passages of %s in %.1f s (cached in %s)", len(passages), path, time.perf_counter() - start, cache)
    return retriever


def corpus_searcher(path: str | Path, retriever: str = "bm25", *, encoder: str = DEFAULT_ENCODER,
                    dense_index: str = "flat") -> Retriever:
    """A retriever (bm25, dense or hybrid) over a passage file; BM25 indexes and dense embeddings are cached."""
    bm25 = corpus_retriever(path) if retriever != "dense" else None
    return build_retriever(bm25.passages if bm25 else load_passages(path), retriever, encoder=encoder,
                           dense_index=dense_index, bm25=bm25)

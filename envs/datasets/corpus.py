"""Passage files for the open-domain setting, indexed once and cached on disk."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from agent_r1.envs.datasets.download import data_home
from agent_r1.envs.datasets.records import DatasetFormatError
from agent_r1.tools.bm25 import BM25Index
from agent_r1.tools.retriever import BM25Retriever, Passage, passage_from_contents

logger = logging.getLogger(__name__)


def load_passages(path: str | Path) -> list[Passage]:
    """JSON Lines of {"id", "contents": "\\"Title\\"\\ntext"} (the DPR/Search-R1/FlashRAG dumps) or {"title", "text"}."""
    path = Path(path)
    passages = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetFormatError(f"{path}: line {number} is not JSON ({exc.msg})") from None
            if isinstance(row, dict) and isinstance(row.get("contents"), str):
                passages.append(passage_from_contents(str(row.get("id", number - 1)), row["contents"]))
            elif isinstance(row, dict) and isinstance(row.get("text"), str):
                passages.append(Passage(str(row.get("id", number - 1)), str(row.get("title", "")), row["text"]))
            else:
                raise DatasetFormatError(f'{path}: line {number} should be {{"id", "contents"}} or {{"title", "text"}}')
    if not passages:
        raise DatasetFormatError(f"{path}: no passages")
    return passages


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

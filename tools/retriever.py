"""Passages and the retriever protocol that a `SearchTool` runs on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from agent_r1.tools.bm25 import BM25Index, Tokenizer, tokenize
from agent_r1.tools.paths import DEFAULT_ENCODER

RETRIEVERS = ("bm25", "dense", "hybrid")


@dataclass(frozen=True)
class Passage:
    """One searchable passage; `id` is stable across index rebuilds (e.g. a dataset's paragraph key)."""

    id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """Title and text as one string: what gets indexed, as in the Wikipedia dumps of Search-R1."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def passage_from_contents(passage_id: str, contents: str) -> Passage:
    """A passage from the `"Title"\ntext` contents of the Wikipedia dumps used by DPR, Search-R1 and FlashRAG."""
    title, newline, text = contents.partition("\n")
    if not newline:
        return Passage(passage_id, "", contents)
    return Passage(passage_id, title.strip().strip('"'), text)


@dataclass(frozen=True)
class SearchHit:
    passage: Passage
    score: float


class Retriever(Protocol):
    def search(self, query: str, k: int) -> list[SearchHit]: ...


def search_all(retriever: Retriever, queries: Sequence[str], k: int) -> list[list[SearchHit]]:
    """`search_batch` where the retriever has one (the protocol asks only for `search`), else one search per query."""
    search_batch = getattr(retriever, "search_batch", None)
    return search_batch(queries, k) if search_batch else [retriever.search(q, k) for q in queries]


class BM25Retriever:
    """A `Retriever` over passages held in memory, ranked by `BM25Index`.

    It uses Lucene's idf (as Pyserini does): Okapi's idf is zero or floored for
    words in half of a small corpus, such as the ten passages of a distractor setting.
    """

    def __init__(
        self, passages: Sequence[Passage], *, tokenizer: Tokenizer = tokenize, idf: str = "lucene", index: BM25Index | None = None
    ) -> None:
        self.passages = list(passages)
        self.index = index if index is not None else BM25Index((p.contents for p in self.passages), tokenizer=tokenizer, idf=idf)
        if len(self.index) != len(self.passages):
            raise ValueError(f"the index holds {len(self.index)} passages, but {len(self.passages)} were given")

    def search(self, query: str, k: int) -> list[SearchHit]:
        return [SearchHit(self.passages[i], score) for i, score in self.index.search(query, k)]

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[SearchHit]]:
        return [
            [SearchHit(self.passages[i], score) for i, score in hits]
            for hits in self.index.search_batch(queries, k)
        ]


def build_retriever(passages: Sequence[Passage], kind: str = "bm25", *, encoder: str = DEFAULT_ENCODER,
                    dense_index: str = "flat", bm25: BM25Retriever | None = None) -> Retriever:
    """A retriever of one of RETRIEVERS over `passages`; `dense_index` is the dense side's faiss index (flat, hnsw or
    ivf: tools/dense.py), `bm25` one already built over them (a cached index). Dense and hybrid import torch and
    load the encoder here, when first needed."""
    if kind not in RETRIEVERS:
        raise ValueError(f"retriever must be one of {', '.join(RETRIEVERS)}, got {kind!r}")
    if kind != "dense" and bm25 is None:
        bm25 = BM25Retriever(passages)
    if kind == "bm25":
        return bm25
    from agent_r1.tools.dense import DenseRetriever
    from agent_r1.tools.hybrid import bm25_dense

    dense = DenseRetriever(passages, encoder=encoder, index=dense_index)
    return dense if kind == "dense" else bm25_dense(bm25, dense)

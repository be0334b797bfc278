"""Hybrid retrieval: several retrievers' rankings fused by reciprocal rank (Cormack, Clarke and Buettcher, 2009).

A passage's score is the sum over retrievers of weight / (k0 + rank), its rank 1-based in that retriever's list.
RRF needs no calibration between BM25's and a dense encoder's scores, which live on unrelated scales.
"""

from __future__ import annotations

from typing import Sequence

from agent_r1.tools.retriever import Passage, Retriever, SearchHit, search_all


class HybridRetriever:
    def __init__(self, retrievers: Sequence[Retriever], *, weights: Sequence[float] | None = None, k0: int = 60,
                 depth: int = 50) -> None:
        if not retrievers:
            raise ValueError("a hybrid retriever needs at least one retriever")
        self.retrievers = list(retrievers)
        self.weights = [1.0] * len(self.retrievers) if weights is None else [float(w) for w in weights]
        if len(self.weights) != len(self.retrievers) or any(not w >= 0 for w in self.weights):
            raise ValueError(f"weights must be one number of at least 0 per retriever, got {weights!r}")
        self.k0, self.depth = k0, depth  # each retriever's list is read this deep (or k, if larger)

    def search(self, query: str, k: int) -> list[SearchHit]:
        return self.fuse([r.search(query, max(k, self.depth)) for r in self.retrievers], k)

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[SearchHit]]:
        depth = max(k, self.depth)
        lists = [search_all(r, queries, depth) for r in self.retrievers]
        return [self.fuse([hits[i] for hits in lists], k) for i in range(len(queries))]

    def fuse(self, rankings: Sequence[Sequence[SearchHit]], k: int) -> list[SearchHit]:
        scores: dict[str, float] = {}
        passages: dict[str, Passage] = {}
        for weight, hits in zip(self.weights, rankings):
            for rank, hit in enumerate(hits, start=1):
                scores[hit.passage.id] = scores.get(hit.passage.id, 0.0) + weight / (self.k0 + rank)
                passages.setdefault(hit.passage.id, hit.passage)
        best = sorted(scores, key=lambda pid: (-scores[pid], pid))[:k]
        return [SearchHit(passages[pid], scores[pid]) for pid in best]

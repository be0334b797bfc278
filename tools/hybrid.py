"""Hybrid retrieval: several retrievers' rankings fused by reciprocal rank (Cormack, Clarke and Buettcher, 2009).

A passage's score is the sum over retrievers of weight / (k0 + rank), its rank 1-based in that retriever's list.
RRF needs no calibration between BM25's and a dense encoder's scores, which live on unrelated scales.
`bm25_dense` is the hybrid the envs and the server build: its fusion was chosen on training questions.
"""

from __future__ import annotations

from typing import Sequence

from agent_r1.tools.retriever import Passage, Retriever, SearchHit, search_all

# BM25 + dense: k0 5, dense at 0.75 of BM25's weight. Chosen by recall@5 on HotpotQA's training questions among
# 49 settings (benchmarks/hybrid_tuning.py); on 500 dev questions with 27,654 distractors, R@5 0.731 against
# 0.706 for Cormack et al.'s k0 60 at equal weights (the class's generic defaults) and 0.682 for BM25 alone.
BM25_DENSE_K0 = 5
BM25_DENSE_WEIGHTS = (1.0, 0.75)


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
        return reciprocal_rank_fusion(rankings, k, weights=self.weights, k0=self.k0)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[SearchHit]], k: int, *, weights: Sequence[float],
                           k0: int) -> list[SearchHit]:
    """The top k of the rankings fused: each passage scores the sum of weight / (k0 + its 1-based rank)."""
    scores: dict[str, float] = {}
    passages: dict[str, Passage] = {}
    for weight, hits in zip(weights, rankings):
        for rank, hit in enumerate(hits, start=1):
            scores[hit.passage.id] = scores.get(hit.passage.id, 0.0) + weight / (k0 + rank)
            passages.setdefault(hit.passage.id, hit.passage)
    best = sorted(scores, key=lambda pid: (-scores[pid], pid))[:k]
    return [SearchHit(passages[pid], scores[pid]) for pid in best]


def bm25_dense(bm25: Retriever, dense: Retriever) -> HybridRetriever:
    """BM25 and a dense retriever over the same passages, fused as measured best on training questions."""
    return HybridRetriever([bm25, dense], weights=BM25_DENSE_WEIGHTS, k0=BM25_DENSE_K0)

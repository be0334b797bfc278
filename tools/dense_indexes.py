"""The faiss indexes a dense retriever searches: exact, HNSW, or IVF over 8-bit vectors.

Embeddings are normalised, so an inner-product index ranks by cosine. faiss is imported when an index is built.
"""

from __future__ import annotations

import numpy as np

# Exact inner product; an HNSW graph (approximate, fast, the memory of flat and more); IVF lists over vectors kept
# as one byte per dimension (8-bit scalar quantisation: a quarter of flat's memory, for corpora of millions; its
# lists are trained on the corpus, so it needs IVF_MIN_PASSAGES). Product quantisation (IVF-PQ, 48 bytes for 384
# dimensions) was measured too and left out: on 20,000 synthetic clustered vectors it trained 100 times slower
# than SQ8 for half the recall@10 (0.45 against 0.90, 16 of 256 lists probed). benchmarks/dense_cost.py measures
# each index against exact search.
INDEXES = ("flat", "hnsw", "ivf")
IVF_MIN_PASSAGES = 1_000
# Lists an IVF search reads: on the 27,654 BEIR passages (692 lists), recall@10 against exact search was 0.78 at 16,
# 0.87 at 32, 0.93 at 64 and 0.97 at 128, each well under a millisecond a query.
IVF_PROBES = 64


def build_index(embeddings: np.ndarray, kind: str, *, hnsw_neighbors: int = 32, hnsw_ef_search: int = 64,
                ivf_probes: int = IVF_PROBES):
    """A faiss inner-product index of one of INDEXES over `embeddings` (normalised float32 rows)."""
    import faiss

    count, dim = embeddings.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_neighbors, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = hnsw_ef_search
    elif kind == "ivf":
        if count < IVF_MIN_PASSAGES:
            raise ValueError(f"an ivf index is trained on its passages and needs at least {IVF_MIN_PASSAGES:,}; "
                             f"{count:,} fit a flat index")
        # faiss's rule of thumb, 4 sqrt(N) lists, and its k-means trained on 64 points a list (39 at least)
        lists = int(min(4 * count ** 0.5, count // 39))
        index = faiss.index_factory(dim, f"IVF{lists},SQ8", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        index.train(embeddings[rng.choice(count, min(count, 64 * lists), replace=False)])
        faiss.extract_index_ivf(index).nprobe = ivf_probes
    else:
        raise ValueError(f"index must be one of {', '.join(INDEXES)}, got {kind!r}")
    index.add(embeddings)
    return index

"""In-process BM25 (Okapi) as one sparse matrix product per query batch.

By default scores equal `rank_bm25.BM25Okapi`'s (same k1, b, epsilon floor for
negative idf, query terms counted with multiplicity); `idf="lucene"` takes the
always-positive idf of Lucene/Pyserini, the BM25 behind Search-R1's retrievers.
Instead of a Python loop over query terms and a dense pass over every
document, the per-(term, document) weights are precomputed into a term-major
CSR matrix: a query touches only the posting lists of its own terms.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from scipy import sparse

Tokenizer = Callable[[str], list[str]]

# A short English stopword list: it keeps posting lists of function words out
# of every query, which is most of the speed on long corpora and costs nothing
# in multi-hop QA, where queries are names and content words.
STOPWORDS = frozenset(
    """a an and are as at be been but by did do does for from had has have he her his how i in into is it its
    of on or she so than that the their them then there these they this to was were what when where which who
    whom whose why will with""".split()
)
_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords: the default tokenizer of the index."""
    return [token for token in _WORD.findall(text.lower()) if token not in STOPWORDS]


class BM25Index:
    """BM25 over a fixed list of passages.

    >>> index = BM25Index(["the cat sat", "a dog barked", "cat and dog"])
    >>> [i for i, _ in index.search("cat", k=2)]
    [0, 2]
    """

    def __init__(
        self,
        texts: Iterable[str],
        *,
        tokenizer: Tokenizer = tokenize,
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
        idf: str = "okapi",
    ) -> None:
        if idf not in ("okapi", "lucene"):
            raise ValueError(f"idf must be 'okapi' or 'lucene', got {idf!r}")
        self.idf_kind = idf
        self.tokenizer = tokenizer
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.vocabulary: dict[str, int] = {}
        term_ids: list[int] = []
        doc_lengths: list[int] = []
        lookup = self.vocabulary.setdefault
        for text in texts:
            tokens = tokenizer(text)
            doc_lengths.append(len(tokens))
            term_ids.extend([lookup(token, len(self.vocabulary)) for token in tokens])
        self.num_docs = len(doc_lengths)
        self._weights = self._build_weights(np.asarray(term_ids, dtype=np.int32), np.asarray(doc_lengths, dtype=np.int64))

    def __len__(self) -> int:
        return self.num_docs

    def _build_weights(self, term_ids: np.ndarray, doc_lengths: np.ndarray) -> sparse.csr_matrix:
        num_terms, num_docs = len(self.vocabulary), self.num_docs
        doc_of_token = np.repeat(np.arange(num_docs, dtype=np.int32), doc_lengths)
        # COO -> CSR sums duplicate (term, doc) pairs: the term frequencies.
        tf = sparse.csr_matrix(
            (np.ones(len(term_ids), dtype=np.float64), (term_ids, doc_of_token)),
            shape=(num_terms, num_docs),
        )
        tf.sum_duplicates()
        doc_freq = np.diff(tf.indptr).astype(np.float64)
        if self.idf_kind == "lucene":
            # Always positive; in a corpus of ten passages, Okapi's idf is zero for
            # a word in half of them, and a search for it finds nothing.
            idf = np.log1p((num_docs - doc_freq + 0.5) / (doc_freq + 0.5))
        else:
            idf = np.log(num_docs - doc_freq + 0.5) - np.log(doc_freq + 0.5)
            if num_terms:
                # rank_bm25's floor: negative idf becomes epsilon * mean idf.
                idf[idf < 0] = self.epsilon * idf.mean()
        self.idf = idf
        avg_length = doc_lengths.sum() / num_docs if num_docs else 0.0
        length_norm = self.k1 * (1 - self.b + self.b * doc_lengths / avg_length) if avg_length else np.zeros(num_docs)
        freqs = tf.data
        docs = tf.indices
        terms = np.repeat(np.arange(num_terms), np.diff(tf.indptr))
        tf.data = (idf[terms] * freqs * (self.k1 + 1) / (freqs + length_norm[docs])).astype(np.float32)
        return tf

    def _query_matrix(self, queries: Sequence[str]) -> sparse.csr_matrix:
        rows, cols = [], []
        for row, query in enumerate(queries):
            for token in self.tokenizer(query):
                term = self.vocabulary.get(token)
                if term is not None:
                    rows.append(row)
                    cols.append(term)
        # Duplicate (row, term) pairs sum up: a repeated query word counts twice, as in rank_bm25.
        counts = np.ones(len(rows), dtype=np.float32)
        return sparse.csr_matrix((counts, (rows, cols)), shape=(len(queries), len(self.vocabulary)))

    def scores(self, query: str) -> np.ndarray:
        """Dense BM25 scores of every passage for one query (for inspection and tests)."""
        return np.asarray((self._query_matrix([query]) @ self._weights).todense()).ravel()

    def search(self, query: str, k: int = 10) -> list[tuple[int, float]]:
        """The top-k passages as (passage_index, score), best first; ties go to the lower index.

        Passages that share no term with the query are never returned.
        """
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[list[tuple[int, float]]]:
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        results = self._query_matrix(queries) @ self._weights
        hits = []
        for row in range(len(queries)):
            start, end = results.indptr[row], results.indptr[row + 1]
            docs, values = results.indices[start:end], results.data[start:end]
            if len(values) > k:
                keep = np.argpartition(-values, k - 1)[:k]
                # argpartition may cut through a tie at the k-th score: widen to all tied docs.
                keep = np.flatnonzero(values >= values[keep].min())
                docs, values = docs[keep], values[keep]
            order = np.lexsort((docs, -values))[:k]
            hits.append([(int(docs[i]), float(values[i])) for i in order])
        return hits

    def save(self, directory: str | Path) -> None:
        """Writes the index to `directory` atomically (a reader never sees half an index)."""
        directory = Path(directory)
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        w = self._weights
        np.savez(tmp / "weights.npz", data=w.data, indices=w.indices, indptr=w.indptr, idf=self.idf)
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        meta = {"format": 1, "k1": self.k1, "b": self.b, "epsilon": self.epsilon, "idf": self.idf_kind,
                "num_docs": self.num_docs, "tokenizer": f"{self.tokenizer.__module__}.{self.tokenizer.__qualname__}",
                "vocabulary": terms}
        (tmp / "meta.json").write_text(json.dumps(meta))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)

    @classmethod
    def load(cls, directory: str | Path, *, tokenizer: Tokenizer = tokenize) -> "BM25Index":
        """Reads an index written by `save`; pass the tokenizer it was built with."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / "meta.json").read_text())
            arrays = np.load(directory / "weights.npz")
            index = cls.__new__(cls)
            index.tokenizer = tokenizer
            index.k1, index.b, index.epsilon, index.idf_kind = meta["k1"], meta["b"], meta["epsilon"], meta["idf"]
            index.num_docs = meta["num_docs"]
            index.vocabulary = {term: i for i, term in enumerate(meta["vocabulary"])}
            index.idf = arrays["idf"]
            index._weights = sparse.csr_matrix(
                (arrays["data"], arrays["indices"], arrays["indptr"]), shape=(len(index.vocabulary), index.num_docs)
            )
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{directory} does not hold a readable BM25 index ({exc})") from None
        return index

    @property
    def nbytes(self) -> int:
        """Memory held by the score matrix (the vocabulary dict comes on top)."""
        w = self._weights
        return w.data.nbytes + w.indices.nbytes + w.indptr.nbytes + self.idf.nbytes

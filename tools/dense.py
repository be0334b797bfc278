"""Dense retrieval: passages embedded by a sentence encoder, searched by inner product in a faiss index.

The same `Retriever` protocol as BM25, so a search tool, an env or a server takes either. Embeddings are
normalised, so the inner product is the cosine. Passages are encoded once per (corpus, encoder) and cached on
disk; a cache that does not match its record (cut short, altered) is encoded again. torch, sentence-transformers
and faiss are imported when a dense retriever is first built, so `import agent_r1.envs` stays light.

Texts are encoded by ONNX Runtime where it is installed (`runtime="auto"`; tools/onnx_encoder.py): the same
vectors as sentence-transformers, checked on every load, in half the time for one question.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from agent_r1.tools.dense_indexes import INDEXES, IVF_PROBES, build_index
from agent_r1.tools.encoders import prefixes, resolve_encoder
from agent_r1.tools.onnx_encoder import onnx_encoder
from agent_r1.tools.paths import DEFAULT_ENCODER, data_home
from agent_r1.tools.retriever import Passage, SearchHit

logger = logging.getLogger(__name__)

# "auto": ONNX Runtime on a CPU where it is installed and its graph matches the torch model, else sentence-transformers
RUNTIMES = ("auto", "onnx", "torch")


class DenseRetriever:
    def __init__(self, passages: Sequence[Passage], *, encoder: str = DEFAULT_ENCODER, index: str = "flat",
                 batch_size: int = 64, cache_dir: Path | None = None, query_prefix: str | None = None,
                 passage_prefix: str | None = None, hnsw_neighbors: int = 32, hnsw_ef_search: int = 64,
                 ivf_probes: int = IVF_PROBES, runtime: str = "auto", progress: bool = True) -> None:
        if index not in INDEXES:
            raise ValueError(f"index must be one of {', '.join(INDEXES)}, got {index!r}")
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        if not passages:
            raise ValueError("a dense retriever needs at least one passage")
        from sentence_transformers import SentenceTransformer

        self.passages = list(passages)
        self.encoder_name = encoder
        default_query, default_passage = prefixes(encoder)
        self.query_prefix = default_query if query_prefix is None else query_prefix
        self.passage_prefix = default_passage if passage_prefix is None else passage_prefix
        source = resolve_encoder(encoder)
        self.model = SentenceTransformer(source)  # on a GPU where there is one
        self.batch_size, self.progress = batch_size, progress
        cache_dir = Path(cache_dir or data_home() / "embeddings")
        # ONNX Runtime runs on the CPU here, so a model on a GPU stays with torch unless asked. The graph belongs
        # to the encoder, not the corpus: one per data home, checked against self.model on every load
        wanted = runtime == "onnx" or (runtime == "auto" and self.model.device.type == "cpu")
        self.onnx = onnx_encoder(self.model, source, data_home() / "onnx") if wanted else None
        if runtime == "onnx" and self.onnx is None:
            raise RuntimeError(f"runtime='onnx': {encoder} cannot run on ONNX Runtime here (the log says why); "
                               "runtime='auto' falls back to sentence-transformers")
        self.runtime = "torch" if self.onnx is None else "onnx"
        embeddings = self._passage_embeddings(cache_dir)
        self.index = build_index(embeddings, index, hnsw_neighbors=hnsw_neighbors, hnsw_ef_search=hnsw_ef_search,
                                 ivf_probes=ivf_probes)

    def encode(self, texts: Sequence[str], prefix: str, progress: bool = False) -> np.ndarray:
        if self.onnx is not None:
            vectors = self.onnx.encode([prefix + t for t in texts], self.batch_size, progress)
            # The graph normalises only where the model ends in a Normalize module (E5 and BGE do not)
            return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        vectors = self.model.encode([prefix + t for t in texts], batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, query: str, k: int) -> list[SearchHit]:
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[SearchHit]]:
        if not queries:
            return []
        k = min(k, len(self.passages))
        scores, ids = self.index.search(self.encode(queries, self.query_prefix), k)
        return [[SearchHit(self.passages[i], float(s)) for s, i in zip(row_scores, row_ids) if i >= 0]
                for row_scores, row_ids in zip(scores, ids)]

    def _passage_embeddings(self, cache_dir: Path) -> np.ndarray:
        key = self._cache_key()
        path, record = Path(cache_dir) / f"{key}.npy", Path(cache_dir) / f"{key}.json"
        cached = _load(path, record, len(self.passages))
        if cached is not None:
            return cached
        started = time.perf_counter()
        embeddings = self.encode([p.contents for p in self.passages], self.passage_prefix, progress=self.progress)
        seconds = time.perf_counter() - started
        logger.info("encoded %d passages with %s (%s) in %.1f s (%.0f a second); cached in %s", len(self.passages),
                    self.encoder_name, self.runtime, seconds, len(self.passages) / max(seconds, 1e-9), path)
        _save(path, record, embeddings)
        return embeddings

    def _cache_key(self) -> str:
        digest = hashlib.sha256()
        digest.update(json.dumps([self.encoder_name, self.query_prefix, self.passage_prefix]).encode())
        for p in self.passages:
            digest.update(f"{p.id}\0{p.contents}\0".encode())
        return digest.hexdigest()[:24]


def _load(path: Path, record: Path, count: int) -> np.ndarray | None:
    """The cached embeddings, or None when there are none or they do not match their record."""
    if not path.exists():
        return None
    try:
        expected = json.loads(record.read_text())
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != expected["sha256"]:
            raise ValueError("its checksum differs from the one recorded")
        embeddings = np.load(io.BytesIO(data), allow_pickle=False)
        if embeddings.shape != (count, expected["dim"]) or embeddings.dtype != np.float32:
            raise ValueError(f"it holds {embeddings.shape} {embeddings.dtype}, not {count} float32 rows")
        return embeddings
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("encoding again: the embeddings cached in %s are unusable (%s)", path, exc)
        return None


def _save(path: Path, record: Path, embeddings: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, embeddings, allow_pickle=False)
    data = buffer.getvalue()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    record.write_text(json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "dim": int(embeddings.shape[1]),
                                  "count": int(embeddings.shape[0])}))

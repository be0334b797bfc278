import pytest

from agent_r1.tools import SearchTool
from agent_r1.tools.remote import RemoteRetriever, RetrievalServerError
from servers import retrieval_handler, serve

DOCS = [
    {"id": "11", "contents": '"Tarskmere"\nTarskmere is a city in Orvania.'},
    {"id": "12", "contents": '"Zorvan Quist"\nZorvan Quist was born in Tarskmere.'},
]


def search(query, k):
    return [{"document": d, "score": 2.0 - i} for i, d in enumerate(DOCS) if query.lower() in d["contents"].lower()][:k]


def test_search_r1_style_server():
    calls = []
    with serve(retrieval_handler(search, calls=calls)) as url:
        hits = RemoteRetriever(url).search("tarskmere", 2)
        batch = RemoteRetriever(url + "/retrieve").search_batch(["zorvan", "nothing"], 3)
    assert [(h.passage.id, h.passage.title, h.score) for h in hits] == [("11", "Tarskmere", 2.0), ("12", "Zorvan Quist", 1.0)]
    assert hits[0].passage.text == "Tarskmere is a city in Orvania."
    assert [len(b) for b in batch] == [1, 0]
    assert calls[0] == {"queries": ["tarskmere"], "topk": 2, "return_scores": True}


def test_documents_without_scores_are_accepted():
    with serve(retrieval_handler(lambda q, k: DOCS[:k])) as url:
        hits = RemoteRetriever(url).search("x", 1)
    assert hits[0].passage.title == "Tarskmere" and hits[0].score == 0.0


def test_a_failing_server_is_retried_then_reported():
    calls = []
    with serve(retrieval_handler(search, fail=True, calls=calls)) as url:
        retriever = RemoteRetriever(url, retries=2, backoff=0.01)
        with pytest.raises(RetrievalServerError, match="HTTP 500"):
            retriever.search("x", 1)
        result = SearchTool(retriever)(query="x")
    assert len(calls) == 3 + 3
    assert not result.ok and "HTTP 500" in result.error


def test_an_unreachable_server_becomes_an_error_observation():
    result = SearchTool(RemoteRetriever("http://127.0.0.1:9", retries=0, timeout=2))(query="x")
    assert not result.ok and "retrieval server http://127.0.0.1:9/retrieve failed" in result.error

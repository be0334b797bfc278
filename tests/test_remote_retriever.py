import time
import tracemalloc

import pytest

from agent_r1.tools import SearchTool
from agent_r1.tools.http_post import MAX_RESPONSE_BYTES
from agent_r1.tools.remote import RemoteRetriever, RetrievalServerError
from servers import hostile, never_answer, retrieval_handler, serve, trickle, within

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


# ---- hostile servers: the timeout is a deadline for the whole search, the answer is capped ----

def trickle_headers(handler, stop):
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while not stop.wait(0.2):
        handler.wfile.write(b"a")
        handler.wfile.flush()


def endless_chunked_body(handler, stop):
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"x" * 65536
    while not stop.is_set():
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def huge_declared_length(handler, stop):
    handler.send_response(200)
    handler.send_header("Content-Length", str(10**12))
    handler.end_headers()
    stop.wait(30)


def slow_failure(handler, stop):
    stop.wait(0.4)
    handler.send_error(503)


@pytest.mark.parametrize("behaviour", [trickle(b'{"result": [['), trickle_headers, never_answer],
                         ids=["trickle_body", "trickle_headers", "never_answer"])
def test_a_slow_server_fails_the_search_at_its_deadline(behaviour):
    with hostile(behaviour) as (url, _):
        started = time.monotonic()
        result = within(5, lambda: SearchTool(RemoteRetriever(url, timeout=1.0, retries=2, backoff=0.05))(query="x"))
        elapsed = time.monotonic() - started
    assert not result.ok and "no complete answer within 1 s" in result.error
    assert 0.9 < elapsed < 1.8


def test_retries_share_the_searchs_deadline():
    with hostile(slow_failure) as (url, _):
        retriever = RemoteRetriever(url, timeout=1.0, retries=20, backoff=0.05)
        started = time.monotonic()
        with pytest.raises(RetrievalServerError, match="HTTP 503|within 1 s"):
            within(5, lambda: retriever.search("x", 1))
        elapsed = time.monotonic() - started
    assert elapsed < 1.8


def test_an_endless_body_stops_at_the_size_cap_in_bounded_memory():
    with hostile(endless_chunked_body) as (url, _):
        retriever = RemoteRetriever(url, timeout=10.0)
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(RetrievalServerError, match=f"over the limit of {MAX_RESPONSE_BYTES:,} bytes"):
                within(5, lambda: retriever.search("x", 3))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        elapsed = time.monotonic() - started
    assert peak < 2 * MAX_RESPONSE_BYTES and elapsed < 5


def test_a_declared_length_over_the_cap_is_refused_unread():
    with hostile(huge_declared_length) as (url, _):
        started = time.monotonic()
        with pytest.raises(RetrievalServerError, match="1,000,000,000,000 bytes, over the limit of 1,024"):
            within(5, lambda: RemoteRetriever(url, timeout=5.0, max_response_bytes=1024).search("x", 3))
    assert time.monotonic() - started < 2


def test_a_flood_of_hits_gives_k_passages():
    # 100,000 hits, about 5 MB: under the size cap, so only keeping the first k bounds the observation
    flood = [{"document": {"id": str(i), "contents": f'"T{i}"\np{i}'}} for i in range(100_000)]
    with serve(retrieval_handler(lambda q, k: flood)) as url:
        retriever = RemoteRetriever(url, timeout=10.0)
        hits = retriever.search("a", 3)
        result = SearchTool(retriever, top_k=3)(query="x")
    assert [h.passage.id for h in hits] == ["0", "1", "2"]
    assert result.ok and result.data["ids"] == ["0", "1", "2"] and len(result.content) < 200


@pytest.mark.parametrize("body", [b"not json", b'{"result": [[{"document": {"contents": "a"}, "score": ' + b"9" * 5000 + b"}]]}",
                                  b'{"result": [[{"document": {"contents": "a"}, "score": "high"}]]}', b'{"result": [7]}',
                                  b"[" * 100_000], ids=["not-json", "huge-int", "text-score", "not-a-list", "deep"])
def test_malformed_answers_become_retrieval_errors(body):
    def answer(handler, stop):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with hostile(answer) as (url, _):
        result = within(5, lambda: SearchTool(RemoteRetriever(url, retries=0, timeout=2.0))(query="x"))
    assert not result.ok and "RetrievalServerError" in result.error

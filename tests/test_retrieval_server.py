"""`agent-r1 serve-retriever`: Search-R1's /retrieve served from one index, read by the remote setting."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import gymnasium as gym
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import agent_r1.envs  # noqa: E402,F401
from agent_r1.tools.remote import RemoteRetriever  # noqa: E402
from agent_r1.tools.retrieval_server import BackgroundServer, ServerLimits  # noqa: E402
from agent_r1.tools.retriever import BM25Retriever, Passage  # noqa: E402
from test_dataset_envs import tiny  # noqa: E402,F401  (the fixture)

PASSAGES = [Passage(str(i), f"Town {i}", f"Town {i} lies on river {i % 7} in the county of shire{i}.") for i in range(200)]


def post(url, body: bytes, headers=None):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_server_answers_what_the_index_answers_and_the_remote_setting_reads_it(tiny, tmp_path):  # noqa: F811
    index = BM25Retriever(PASSAGES)
    queries = ["shire5", "river 3 county", "Town 17", "nothing matches zzz"]
    with BackgroundServer(index, passages=len(PASSAGES)) as server:
        remote = RemoteRetriever(server.url).search_batch(queries, 5)
        status, bare = post(server.url, json.dumps({"queries": ["shire5"], "topk": 1}).encode())
        with urllib.request.urlopen(server.url.replace("/retrieve", "/health")) as response:
            health = json.loads(response.read())
        # The dataset envs' remote setting, against the same passages in the corpus setting
        corpus = tmp_path / "corpus.jsonl"
        corpus.write_text("".join(json.dumps({"id": p.id, "title": p.title, "text": p.text}) + "\n" for p in PASSAGES))
        observations = []
        for setting in ({"setting": "remote", "retriever_url": server.url}, {"setting": "corpus", "corpus_path": str(corpus)}):
            env = gym.make("AgentR1/HotpotQA-v0", data_path=tiny, **setting)
            env.reset(options={"index": 0})
            observations.append(env.step("<search>Town 17 river</search>")[0])
    assert [[(h.passage, round(h.score, 5)) for h in hits] for hits in remote] == \
        [[(h.passage, round(h.score, 5)) for h in hits] for hits in index.search_batch(queries, 5)]
    assert remote[0][0].passage == PASSAGES[5] and remote[-1] == []
    assert status == 200 and bare == {"result": [[{"id": "5", "contents": f'"Town 5"\n{PASSAGES[5].text}'}]]}
    assert health == {"status": "ok", "passages": 200, "pending": 0}
    assert observations[0] == observations[1] and "Town 17" in observations[0]


class Counting:
    """A retriever that records the size of every batch it is asked, slowly enough for requests to pile up."""

    def __init__(self, inner, delay=0.05):
        self.inner, self.delay, self.batches = inner, delay, []

    def search_batch(self, queries, k):
        self.batches.append(len(queries))
        time.sleep(self.delay)
        return self.inner.search_batch(queries, k)


def test_concurrent_requests_are_searched_in_batches_and_each_gets_its_own_answer():
    retriever = Counting(BM25Retriever(PASSAGES))
    answers = {}
    with BackgroundServer(retriever, ServerLimits(max_batch=64, max_wait=0.01)) as server:
        client = RemoteRetriever(server.url)

        def ask(i):
            answers[i] = client.search(f"shire{i}", 1 + i % 3)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert all(answers[i][0].passage.id == str(i) and len(answers[i]) <= 1 + i % 3 for i in range(40))
    assert sum(retriever.batches) == 40 and len(retriever.batches) < 40 and max(retriever.batches) > 1


@pytest.mark.parametrize("body, status, message", [
    (b"not json", 422, "the body: Invalid JSON"),
    (b'{"topk": 3}', 422, "queries: Field required"),
    (b'{"queries": []}', 422, "queries: List should have at least 1 item"),
    (json.dumps({"queries": ["q"] * 11}).encode(), 422, "queries: List should have at most 10 items"),
    (b'{"queries": ["q"], "topk": 0}', 422, "topk: Input should be greater than or equal to 1"),
    (b'{"queries": ["q"], "topk": 100000}', 422, "topk: Input should be less than or equal to 100"),
    (json.dumps({"queries": ["q" * 5000]}).encode(), 422, "queries.0: String should have at most 4096 characters"),
    (json.dumps({"queries": ["q " * 20_000]}).encode(), 413, "the request is over 16384 bytes"),
])
def test_bad_requests_get_a_clear_error_and_the_server_keeps_serving(body, status, message):
    with BackgroundServer(BM25Retriever(PASSAGES), ServerLimits(max_queries=10, max_body_bytes=16384)) as server:
        got_status, answer = post(server.url, body)
        assert got_status == status and answer["error"].startswith(message), answer
        assert RemoteRetriever(server.url).search("shire3", 1)[0].passage.id == "3"


def test_a_slow_search_times_out_a_full_queue_is_refused_and_a_failing_one_is_reported():
    slow = Counting(BM25Retriever(PASSAGES), delay=1.5)
    with BackgroundServer(slow, ServerLimits(timeout=0.5, max_pending=1, max_wait=0)) as server:
        results = []
        first = threading.Thread(target=lambda: results.append(post(server.url, b'{"queries": ["shire1"]}')))
        first.start()
        while not slow.batches:
            time.sleep(0.01)  # the first search is running; the next is queued; a third finds the queue full
        second = threading.Thread(target=lambda: results.append(post(server.url, b'{"queries": ["shire2"]}')))
        second.start()
        time.sleep(0.1)
        started = time.monotonic()
        busy = post(server.url, b'{"queries": ["shire3"]}')
        refused_in = time.monotonic() - started
        first.join()
        second.join()
        time.sleep(1.6)  # the first search ends; the second request, timed out in the queue, is not searched
    assert slow.batches == [1]
    assert busy == (503, {"error": "busy: 1 queries are waiting already; retry"}) and refused_in < 0.5
    assert results[0] == (504, {"error": "the search took over 0.5 s"})

    class Broken:
        def search(self, query, k):
            raise RuntimeError("index file vanished")

    with BackgroundServer(Broken()) as server:
        assert post(server.url, b'{"queries": ["x"]}') == (500, {"error": "the search failed: RuntimeError: index file vanished"})
        assert post(server.url, b'{"queries": ["x"]}')[0] == 500  # the worker lives on


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_the_command_serves_a_corpus_file_and_refuses_bad_input(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": p.id, "title": p.title, "text": p.text}) + "\n" for p in PASSAGES))
    port = free_port()
    command = [sys.executable, "-m", "agent_r1.trainer.cli", "serve-retriever", "--corpus", str(corpus), "--port", str(port)]
    env = {**os.environ, "AGENT_R1_DATA": str(tmp_path / "data")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert "serving bm25 over" in process.stdout.readline()
        hits = RemoteRetriever(f"http://127.0.0.1:{port}").search("shire42", 2)
        assert hits[0].passage.id == "42" and hits[0].passage.title == "Town 42"
        taken = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        assert taken.returncode == 1 and taken.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=30)
    (tmp_path / "bad.jsonl").write_text('{"nothing": 1}\n')
    for corpus_file, message in ((tmp_path / "missing.jsonl", "error: --corpus: no file at"),
                                 (tmp_path / "bad.jsonl", "error: --corpus: ")):
        result = subprocess.run(command[:5] + [str(corpus_file)], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 1 and result.stderr.startswith(message) and "\n" not in result.stderr.strip()

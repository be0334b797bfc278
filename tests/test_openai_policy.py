"""The `openai:MODEL@URL` bench policy against hostile endpoints: redirects, slow and endless bodies,
malformed replies. Each exchange is bounded in time; a bad reply fails one episode, not the bench."""

import json
import time

import pytest

from agent_r1.benchmarks.evaluation.agents import BadReply, EndpointAgent, EndpointError, read_reply
from agent_r1.benchmarks.evaluation.harness import read_episodes
from agent_r1.trainer.cli import main
from servers import hostile, never_answer, trickle, within

KEY = "sk-test-do-not-leak"
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "<answer> unknown "}}], "usage": {"completion_tokens": 3}}


def reply(body: bytes, status: int = 200, headers=()):
    def answer(handler, stop):
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_the_key_stays_home(status):
    with hostile(reply(json.dumps(ANSWER).encode())) as (other, seen_by_other):
        location = [("Location", f"{other}/v1/chat/completions")]
        with hostile(reply(b"", status, location)) as (url, seen):
            agent = EndpointAgent("m", f"{url}/v1", api_key=KEY, retries=2, backoff=0.01)
            with pytest.raises(EndpointError, match=f"after 1 attempt.*HTTP {status} .*redirect.*not followed"):
                within(5, lambda: agent.complete([{"role": "user", "content": "hi"}]))
    assert seen[0]["headers"]["Authorization"] == f"Bearer {KEY}"  # the endpoint itself gets the key
    assert seen_by_other == []  # the other origin gets nothing, the key least of all


@pytest.mark.parametrize("answer", [trickle(b'{"choices": '), never_answer], ids=["trickling-body", "never-answering"])
def test_a_slow_endpoint_costs_at_most_its_documented_time(answer):
    # retries + 1 requests of at most `timeout` each, plus the backoff: 2 x 1 s + 0.05 s here
    with hostile(answer) as (url, seen):
        agent = EndpointAgent("m", f"{url}/v1", timeout=1.0, retries=1, backoff=0.05)
        started = time.monotonic()
        with pytest.raises(EndpointError, match="after 2 attempt.*no complete response within 1 s"):
            within(6, lambda: agent.complete([{"role": "user", "content": "hi"}]))
        elapsed = time.monotonic() - started
    assert len(seen) == 2 and 1.9 < elapsed < 3.0


def endless(handler, stop):
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b" " * 65536
    while not stop.is_set():
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def test_an_endless_body_is_a_bad_reply_at_the_size_cap():
    with hostile(endless) as (url, seen):
        agent = EndpointAgent("m", f"{url}/v1", timeout=10.0, max_response_bytes=2**20, backoff=0.01)
        started = time.monotonic()
        with pytest.raises(BadReply, match="over the limit of 1,048,576 bytes"):
            within(5, lambda: agent.complete([{"role": "user", "content": "hi"}]))
    assert len(seen) == 1 and time.monotonic() - started < 3


MALFORMED = {
    "message-is-text": b'{"choices": [{"message": "hi"}]}',
    "huge-integer": b'{"choices": [{"message": {"content": "<answer> a"}}], "usage": {"completion_tokens": '
                    + b"9" * 5000 + b"}}",
    "not-json": b"<html>502 Bad Gateway</html>",
    "no-choices": b'{"choices": []}',
    "content-not-text": b'{"choices": [{"message": {"content": ["a"]}}]}',
    "usage-not-a-count": b'{"choices": [{"message": {"content": "a"}}], "usage": {"completion_tokens": "7"}}',
    "nested-too-deep": b"[" * 100_000,
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_replies_are_bad_replies(body):
    with pytest.raises(BadReply):
        read_reply(body)


def test_a_reply_without_usage_counts_no_tokens():
    assert read_reply(b'{"choices": [{"message": {"content": "<answer> a"}}], "usage": null}') == ("<answer> a</answer>", 0)
    assert read_reply(b'{"choices": [{"message": {"content": null}}]}') == ("", 0)


def test_a_bad_reply_fails_its_episode_and_the_bench_goes_on(tmp_path, monkeypatch, capsys):
    # Each episode sends one request: a malformed reply fails it, a good one (an answer) ends it.
    bodies = [*MALFORMED.values(), json.dumps({**ANSWER, "usage": None}).encode(), json.dumps(ANSWER).encode()]
    count = iter(range(len(bodies)))

    def answer(handler, stop):
        reply(bodies[next(count)])(handler, stop)

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = tmp_path / "b"
    with hostile(answer) as (url, seen):
        code = within(20, lambda: main(["bench", "--out", str(out), "--quiet", "--envs", "AgentR1/SynthHop-v0",
                                         "--limit", str(len(bodies)), "--policies", f"openai:m@{url}/v1"]))
    assert code == 0 and len(seen) == len(bodies)
    episodes = read_episodes(next((out / "episodes").glob("*.jsonl")))
    assert sorted(e["index"] for e in episodes) == list(range(len(bodies)))
    failed = [e for e in episodes if e["error"]]
    assert len(failed) == len(MALFORMED)
    assert all("is not a chat completion" in e["error"] and e["metrics"]["em"] == 0.0 for e in failed)
    assert {e["prediction"] for e in episodes if not e["error"]} == {"unknown"}
    summary = json.loads((out / "summary.json").read_text())["results"][0]
    assert summary["episodes"] == len(bodies) and summary["failed"] == len(MALFORMED)

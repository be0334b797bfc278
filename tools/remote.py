"""A retriever behind an HTTP server with Search-R1's API (`POST /retrieve`).

Request: {"queries": [...], "topk": k, "return_scores": true}; response:
{"result": [[{"document": {"id": ..., "contents": "\\"Title\\"\\ntext"}, "score": ...}, ...]]}
(or lists of bare documents without scores). Only the first k hits of a query are kept.

`timeout` is the time one search may take in all: connecting, the answer, every retry and
its backoff; a retry starts only while time is left. The answer may be at most
`max_response_bytes` long. Every failure (unreachable, HTTP error, too slow, too large, not
the expected JSON) raises RetrievalServerError; the search tool turns that into an error
observation.

The exchange itself is tools/http_post.py's `post`.
"""

from __future__ import annotations

import json
import logging
import reprlib
import time
import urllib.error
from typing import Any, Sequence

from agent_r1.tools.http_post import MAX_RESPONSE_BYTES, DeadlineExceeded, ResponseTooLarge, post
from agent_r1.tools.retriever import SearchHit, passage_from_contents

logger = logging.getLogger(__name__)


class RetrievalServerError(ConnectionError):
    pass


class RemoteRetriever:
    def __init__(self, url: str, *, timeout: float = 10.0, retries: int = 2, backoff: float = 0.5,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.url = url if url.rstrip("/").endswith("/retrieve") else url.rstrip("/") + "/retrieve"
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.max_response_bytes = max_response_bytes

    def search(self, query: str, k: int) -> list[SearchHit]:
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[SearchHit]]:
        body = json.dumps({"queries": list(queries), "topk": k, "return_scores": True}).encode()
        payload = self._post(body)
        results = payload.get("result") if isinstance(payload, dict) else None
        if not isinstance(results, list) or len(results) != len(queries) or not all(isinstance(r, list) for r in results):
            raise RetrievalServerError(f"{self.url}: expected {{'result': [one list per query]}}, got {reprlib.repr(payload)}")
        # A server may send more than asked for; the observation holds k passages whatever it sends.
        return [[self._hit(item, rank) for rank, item in enumerate(hits[:k])] for hits in results]

    def _post(self, body: bytes) -> Any:
        deadline = time.monotonic() + self.timeout
        problem = "no time left for a request"
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.backoff * 2 ** (attempt - 1)
                if time.monotonic() + pause >= deadline:
                    break  # the search's time is spent
                time.sleep(pause)
            try:
                raw = post(self.url, body, {"Content-Type": "application/json"}, timeout=deadline - time.monotonic(),
                           max_bytes=self.max_response_bytes)
                return json.loads(raw)
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500:
                    break  # the request itself is wrong (or redirected): retrying will not help
            except DeadlineExceeded:
                problem = f"no complete answer within {self.timeout:g} s"
                break
            except ResponseTooLarge as exc:
                problem = str(exc)
                break  # asking again brings the same flood
            except OSError as exc:
                problem = str(getattr(exc, "reason", exc))
            except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, a 5,000-digit number, nested too deep
                problem = f"the response is not JSON ({reprlib.repr(str(exc))})"
            logger.warning("retrieval server %s failed (attempt %d): %s", self.url, attempt + 1, problem)
        raise RetrievalServerError(f"retrieval server {self.url} failed: {problem}")

    def _hit(self, item: Any, rank: int) -> SearchHit:
        document, score = (item.get("document"), item.get("score", 0.0)) if isinstance(item, dict) and "document" in item else (item, 0.0)
        if not isinstance(document, dict) or not isinstance(document.get("contents"), str):
            raise RetrievalServerError(f"{self.url}: a result without 'contents': {reprlib.repr(item)}")
        try:
            score = float(score)
        except (TypeError, ValueError, OverflowError):
            raise RetrievalServerError(f"{self.url}: a result whose score is not a number: {reprlib.repr(item)}") from None
        return SearchHit(passage_from_contents(str(document.get("id", rank)), document["contents"]), score)

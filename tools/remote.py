"""A retriever behind an HTTP server with Search-R1's API (`POST /retrieve`).

Request: {"queries": [...], "topk": k, "return_scores": true}; response:
{"result": [[{"document": {"id": ..., "contents": "\\"Title\\"\\ntext"}, "score": ...}, ...]]}
(or lists of bare documents without scores). Failures raise after the retries;
the search tool turns that into an error observation.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any, Sequence

from agent_r1.tools.retriever import SearchHit, passage_from_contents

logger = logging.getLogger(__name__)


class RetrievalServerError(ConnectionError):
    pass


class RemoteRetriever:
    def __init__(self, url: str, *, timeout: float = 10.0, retries: int = 2, backoff: float = 0.5) -> None:
        self.url = url if url.rstrip("/").endswith("/retrieve") else url.rstrip("/") + "/retrieve"
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    def search(self, query: str, k: int) -> list[SearchHit]:
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[SearchHit]]:
        body = json.dumps({"queries": list(queries), "topk": k, "return_scores": True}).encode()
        payload = self._post(body)
        results = payload.get("result") if isinstance(payload, dict) else None
        if not isinstance(results, list) or len(results) != len(queries):
            raise RetrievalServerError(f"{self.url}: expected {{'result': [one list per query]}}, got {str(payload)[:200]}")
        return [[self._hit(item, rank) for rank, item in enumerate(hits)] for hits in results]

    def _post(self, body: bytes) -> Any:
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500:
                    break  # the request itself is wrong: retrying will not help
            except (urllib.error.URLError, OSError) as exc:
                problem = str(getattr(exc, "reason", exc))
            except json.JSONDecodeError:
                problem = "the response is not JSON"
            logger.warning("retrieval server %s failed (attempt %d): %s", self.url, attempt + 1, problem)
        raise RetrievalServerError(f"retrieval server {self.url} failed: {problem}")

    def _hit(self, item: Any, rank: int) -> SearchHit:
        document, score = (item.get("document"), item.get("score", 0.0)) if isinstance(item, dict) and "document" in item else (item, 0.0)
        if not isinstance(document, dict) or not isinstance(document.get("contents"), str):
            raise RetrievalServerError(f"{self.url}: a result without 'contents': {str(item)[:200]}")
        return SearchHit(passage_from_contents(str(document.get("id", rank)), document["contents"]), float(score))

"""One retriever served over HTTP with Search-R1's API, so that one index serves many training processes and machines.

    POST /retrieve  {"queries": [...], "topk": 3, "return_scores": true}
                 -> {"result": [[{"document": {"id": ..., "contents": "\\"Title\\"\\ntext"}, "score": ...}, ...], ...]}
    GET  /health    -> {"status": "ok", "passages": N, "pending": queued queries}

(`return_scores: false` gives lists of bare documents, as Search-R1's server does.) The `remote` setting of the
dataset envs (tools/remote.py) is its client: `agent-r1 serve-retriever` runs it.

The queries of concurrent requests are searched together: one worker thread takes what is waiting, up to `max_batch`
queries, and makes one `search_batch` call (a dense encoder encodes a batch in about the time of one query), so the
retriever is only ever called from one thread. Every request gets an answer in bounded time: a body over
`max_body_bytes` is refused (413), bad JSON or fields (422), more than `max_pending` queries waiting (503, the client
retries), a search not done within `timeout` seconds (504).
"""

import asyncio
import contextlib
import functools
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Callable

from agent_r1.tools.retriever import Retriever, SearchHit, search_all

logger = logging.getLogger(__name__)

MAX_TOPK = 100
MAX_QUERY_CHARS = 4096


@dataclass(frozen=True)
class ServerLimits:
    max_queries: int = 256  # per request
    max_body_bytes: int = 1 << 20
    max_pending: int = 8192  # queries waiting for the worker; past it, 503
    max_batch: int = 64  # queries per search_batch call
    max_wait: float = 0.002  # seconds the worker waits for more queries to fill a batch
    timeout: float = 30.0  # seconds a request waits for its search


class _Batcher:
    """Queries of concurrent requests, searched in batches on one worker thread."""

    def __init__(self, retriever: Retriever, limits: ServerLimits) -> None:
        self.retriever, self.limits = retriever, limits
        self._queue: queue.Queue = queue.Queue()
        self.pending = 0  # queries queued; changed under _lock
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="retrieval-batcher", daemon=True)
        self._thread.start()

    async def search(self, queries: list[str], k: int) -> list[list[SearchHit]]:
        with self._lock:
            if self.pending + len(queries) > self.limits.max_pending:
                raise OverflowError(f"{self.pending} queries are waiting already")
            self.pending += len(queries)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((queries, k, future, loop))
        return await future

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            items, size = [first], len(first[0])
            deadline = time.monotonic() + self.limits.max_wait
            while size < self.limits.max_batch and (left := deadline - time.monotonic()) > 0:
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                items.append(item)
                size += len(item[0])
            with self._lock:
                self.pending -= size
            self._answer(items)

    def _answer(self, items: list) -> None:
        # A request that timed out while queued is skipped: under overload the worker would otherwise spend itself on
        # answers nobody waits for (a cancelled future's done() is safe to read from this thread).
        items = [item for item in items if not item[2].done()]
        if not items:
            return
        queries = [q for item in items for q in item[0]]
        try:
            hits = search_all(self.retriever, queries, max(item[1] for item in items))
            outcome = []
            for item in items:
                outcome.append((item, [h[: item[1]] for h in hits[: len(item[0])]], None))
                hits = hits[len(item[0]):]
        except Exception as exc:  # a retriever's failure is each request's error, not the worker's end
            logger.exception("search failed")
            outcome = [(item, None, exc) for item in items]
        for (_, _, future, loop), result, error in outcome:
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the server's event loop has closed: nobody is waiting
                pass


def _settle(future: asyncio.Future, result, error) -> None:
    if future.done():  # a request that timed out is gone
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def make_app(retriever: Retriever, limits: ServerLimits = ServerLimits(), *, passages: int | None = None):
    """The ASGI app (FastAPI) serving `retriever`; `passages` is what /health reports."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

    class RetrieveRequest(BaseModel):
        model_config = ConfigDict(extra="ignore")
        queries: list[Annotated[str, StringConstraints(max_length=MAX_QUERY_CHARS)]] = Field(
            min_length=1, max_length=limits.max_queries)
        topk: int = Field(3, ge=1, le=MAX_TOPK)
        return_scores: bool = False

    batcher = _Batcher(retriever, limits)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        batcher.close()

    app = FastAPI(title="agent-r1 retrieval server", lifespan=lifespan)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "passages": passages, "pending": batcher.pending}

    @app.post("/retrieve")
    async def retrieve(request: Request):
        body = bytearray()
        async for chunk in request.stream():  # read no further than the limit, whatever Content-Length says
            body += chunk
            if len(body) > limits.max_body_bytes:
                return error(413, f"the request is over {limits.max_body_bytes} bytes")
        try:
            asked = RetrieveRequest.model_validate_json(bytes(body))
        except ValidationError as exc:
            problem = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in problem["loc"]) or "the body"
            return error(422, f"{where}: {problem['msg']}")
        try:
            hits = await asyncio.wait_for(batcher.search(asked.queries, asked.topk), limits.timeout)
        except OverflowError as exc:
            return error(503, f"busy: {exc}; retry")
        except asyncio.TimeoutError:
            return error(504, f"the search took over {limits.timeout:g} s")
        except Exception as exc:
            return error(500, f"the search failed: {type(exc).__name__}: {exc}")
        return {"result": [[_document(hit, asked.return_scores) for hit in row] for row in hits]}

    return app


def _document(hit: SearchHit, with_score: bool) -> dict:
    document = {"id": hit.passage.id, "contents": f'"{hit.passage.title}"\n{hit.passage.text}' if hit.passage.title
                else hit.passage.text}
    return {"document": document, "score": hit.score} if with_score else document


def _server(app, concurrency: int):
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", timeout_keep_alive=30, limit_concurrency=concurrency)
    return uvicorn.Server(config)


def serve(retriever: Retriever, host: str = "127.0.0.1", port: int = 8000, limits: ServerLimits = ServerLimits(), *,
          passages: int | None = None, concurrency: int = 1024) -> Callable[[], None]:
    """Binds host:port now (a taken port is an OSError here) and returns the call that serves until interrupted
    (Ctrl-C or SIGTERM); `concurrency` connections at most, past which uvicorn answers 503."""
    sock = _bind(host, port)
    return functools.partial(_server(make_app(retriever, limits, passages=passages), concurrency).run, sockets=[sock])


class BackgroundServer:
    """The server on a thread of this process, on a free port of 127.0.0.1 (tests and benchmarks)."""

    def __init__(self, retriever: Retriever, limits: ServerLimits = ServerLimits(), *, passages: int | None = None,
                 concurrency: int = 1024) -> None:
        self._sock = _bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/retrieve"
        self._server = _server(make_app(retriever, limits, passages=passages), concurrency)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the retrieval server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock

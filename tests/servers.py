"""Small HTTP servers on 127.0.0.1 for the download and retrieval tests."""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator


@contextlib.contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def file_handler(files: dict[str, bytes], *, cut_first_response_at: int | None = None, log: list | None = None):
    """Serves `files` by path, with Range support; optionally drops the first connection midway."""
    state = {"cut": cut_first_response_at}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = files.get(self.path)
            if log is not None:
                log.append({"path": self.path, "range": self.headers.get("Range")})
            if body is None:
                self.send_error(404)
                return
            start = 0
            if self.headers.get("Range"):
                start = int(self.headers["Range"].split("=")[1].split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if state["cut"] is not None:
                self.wfile.write(body[start : state["cut"]])
                state["cut"] = None
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


def retrieval_handler(search: Callable[[str, int], list[dict]], *, fail: bool = False, calls: list | None = None):
    """A Search-R1-style `POST /retrieve`; `fail` answers 500 to everything."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if calls is not None:
                calls.append(request)
            if fail or self.path != "/retrieve":
                self.send_error(500 if fail else 404)
                return
            result = [search(q, request["topk"]) for q in request["queries"]]
            body = json.dumps({"result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def within(seconds, call):
    """call(), failed as a test if it has not returned after `seconds`: a hung request must not hang the suite."""
    box = []

    def run():
        try:
            box.append(("value", call()))
        except BaseException as exc:  # re-raised in the test's thread
            box.append(("error", exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert box, f"still running after {seconds} s"
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


@contextlib.contextmanager
def hostile(answer: Callable[[BaseHTTPRequestHandler, threading.Event], None]) -> Iterator[tuple[str, list[dict]]]:
    """(url, requests seen) of a server that answers every request by `answer(handler, stop)`, however
    slowly or wrongly; `stop` is set when the test is done, and a client gone away ends a request quietly."""
    stop, seen = threading.Event(), []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _handle(self):
            seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
            if self.headers.get("Content-Length"):
                self.rfile.read(int(self.headers["Content-Length"]))
            try:
                answer(self, stop)
            except OSError:
                pass  # the client shut the connection: what these servers are for

        do_GET = do_POST = _handle

    try:
        with serve(Handler) as url:
            yield url, seen
    finally:
        stop.set()


def trickle(start: bytes):
    """An answer that promises 1,000 bytes, sends `start`, then a space every 0.2 s."""

    def answer(handler, stop):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(start)
        while not stop.wait(0.2):
            handler.wfile.write(b" ")
            handler.wfile.flush()

    return answer


def never_answer(handler, stop):
    stop.wait(30)

"""An HTTP POST under one deadline for the whole exchange and a cap on the answer's size.

Shared by the remote retriever and the bench's OpenAI-compatible endpoint
policy: both talk to servers that may be slow, broken or hostile.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.error
import urllib.request
from typing import Any, Callable, Mapping

# Ample for any sane answer (top-k passages, a chat completion), small enough to hold in memory.
MAX_RESPONSE_BYTES = 8 * 2**20
_CHUNK = 64 * 2**10


class ResponseError(OSError):
    """An exchange `post` gave up on."""


class DeadlineExceeded(ResponseError, TimeoutError):
    pass


class ResponseTooLarge(ResponseError):
    pass


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float, max_bytes: int = MAX_RESPONSE_BYTES) -> bytes:
    """POSTs `body` and returns the response's body, the whole exchange within `timeout` seconds.

    urllib's timeout bounds each socket read, not the exchange: a server that sends a byte a
    second (in its headers or its body) holds the caller as long as it likes, and an endless
    body fills memory. Here a watchdog shuts the socket at the deadline whatever is blocked
    on it, and the body is read a chunk at a time against `max_bytes`. Redirects are refused
    (an HTTPError with the 3xx code): following one would send the caller's headers, an API
    key among them, to wherever the server points.

    Raises urllib.error.HTTPError, DeadlineExceeded, ResponseTooLarge or another OSError.
    """
    if timeout <= 0:
        raise DeadlineExceeded("no time left for the request")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    with _Deadline(timeout) as deadline:
        try:
            with _opener(deadline).open(request, timeout=timeout) as response:
                return _read_body(response, deadline, max_bytes)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise
        except ResponseError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            # urllib's socket timeout is the whole exchange's too: it may fire just before the watchdog.
            timed_out = isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)
            if deadline.expired or timed_out:
                raise deadline.exceeded() from None
            if isinstance(exc, OSError):
                raise
            raise ConnectionError(f"a broken HTTP response ({exc!r})") from None


class _Deadline:
    """Shuts the sockets of one exchange when its time is up, unblocking whatever waits on them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._timer.cancel()

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"no complete response within {self.seconds:g} s")

    def watched(self, connection_class: Callable[..., http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        """A factory of connections this deadline can shut, as urllib's handlers take one."""

        def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            connection = connection_class(*args, **kwargs)
            connect = connection.connect

            def connect_watched() -> None:
                with self._lock:
                    self._connections.append(connection)
                connect()
                if self.expired:  # the deadline passed while connecting, before the socket was there to shut
                    self._shut(connection)

            connection.connect = connect_watched
            return connection

        return make

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            self._shut(connection)

    @staticmethod
    def _shut(connection: http.client.HTTPConnection) -> None:
        sock = connection.sock
        if sock is None:
            return
        try:
            # The plain socket's shutdown, also under TLS: SSLSocket's own would tear down the
            # SSL object under the thread reading from it.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


class _Watched:
    """A urllib handler whose connections the deadline can shut."""

    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def do_open(self, http_class, req, **kwargs):
        return super().do_open(self.deadline.watched(http_class), req, **kwargs)


class _WatchedHTTP(_Watched, urllib.request.HTTPHandler):
    pass


class _WatchedHTTPS(_Watched, urllib.request.HTTPSHandler):
    pass


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    # Given subclasses, build_opener leaves out urllib's own HTTP, HTTPS and redirect handlers;
    # the proxy handler (from the environment) stays.
    return urllib.request.build_opener(_NoRedirects(), _WatchedHTTP(deadline), _WatchedHTTPS(deadline))


def _read_body(response: http.client.HTTPResponse, deadline: _Deadline, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"the response is {int(declared):,} bytes, over the limit of {max_bytes:,}")
    body = bytearray()
    # read1: one socket read per call, so that the deadline is checked between reads
    # (read(n) would wait for n bytes, one trickled byte at a time).
    while chunk := response.read1(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise ResponseTooLarge(f"the response is over the limit of {max_bytes:,} bytes")
        if deadline.expired:
            break
    if deadline.expired:
        raise deadline.exceeded()
    if response.length:  # bytes the Content-Length promised that never came
        raise ConnectionError(f"the response ended {response.length:,} bytes short")
    return bytes(body)

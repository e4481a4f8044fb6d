"""The service's HTTP client for event-handler calls: keep-alive HTTP/1.1 over a pool of
connections per handler origin, answers parsed by llhttp (`httptools`).

Every client event and every connect is one POST to the app, so this call is most of what
the service spends per vote. A general-purpose client builds a request object, a header
multidict with defaults, a payload wrapper, a timer and a response reader for each call; the
service knows exactly what it sends (a method, a path, a dozen ASCII headers and a body of
known length), so here a request is one `bytes` write and an answer is what the parser hands
back. What a handler may answer is not narrowed: any status, `Content-Length`, chunked or
read-to-close bodies.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

_REPEATABLE = frozenset({"GET", "HEAD", "OPTIONS"})


class UpstreamError(ConnectionError):
    """The handler could not be reached, closed the connection before answering, or
    answered with something that is not HTTP."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int
    host_header: str


@dataclass(frozen=True, slots=True)
class _Target:
    origin: _Origin
    path: str


@functools.lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    """A handler URL split once: handlers are a few URLs called thousands of times."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamError(f"not an http(s) URL: {url[:200]}")
    default_port = 443 if parts.scheme == "https" else 80
    port = parts.port or default_port
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(_Origin(parts.scheme, host, port, host_header), path)


def _request_bytes(method: str, target: _Target, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.origin.host_header}", f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise UpstreamError(f"header {name[:100]!r} cannot be sent: it holds a line break or a colon")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer delivered to a future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._body: list[bytes] = []
        self._started = False  # some bytes of the current answer arrived
        self._headers_done = False
        self._framed = False  # the answer says where its body ends
        self._keep_alive = True

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self._close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self._started = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"the event handler's answer is not HTTP: {exc}"))
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            if self._headers_done and not self._framed:
                self._finish()  # a body that ends when the connection does
            else:
                self._fail(UpstreamError("the event handler closed the connection before answering"))

    # --- httptools callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._headers = CIMultiDict()
        self._body = []
        self._headers_done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._framed = "Content-Length" in self._headers or "Transfer-Encoding" in self._headers
        self._keep_alive = self._parser.should_keep_alive()
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._headers_done = False  # an interim answer; the real one follows

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._headers_done:
            self._finish()

    # --- requests ------------------------------------------------------------------------------
    def send(self, request: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._started = False
        self._headers_done = False
        self.transport.write(request)
        return self._waiter

    @property
    def answer_started(self) -> bool:
        return self._started

    @property
    def idle(self) -> bool:
        return not self.closed and self._waiter is None and self._keep_alive

    def abandon(self) -> None:
        """The caller gave up (timeout, cancellation): the answer may still come, so the
        connection is not reused."""
        self._waiter = None
        self._close()

    def _finish(self) -> None:
        waiter, self._waiter = self._waiter, None
        answer = Answer(self._parser.get_status_code(), CIMultiDictProxy(self._headers), b"".join(self._body))
        if not self._keep_alive:
            self._close()
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpClient:
    """Requests to event handlers; at most `limit` connections open at once (callers beyond
    that wait their turn), idle ones kept for the next call to the same origin."""

    def __init__(self, *, timeout_seconds: float, limit: int = 256) -> None:
        self.timeout_seconds = timeout_seconds
        self._slots = asyncio.Semaphore(limit)
        self._idle: dict[_Origin, deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes = b"") -> Answer:
        """One request and its answer; raises UpstreamError, or TimeoutError when the whole
        call took longer than the timeout."""
        if self._closed:
            raise UpstreamError("the client is closed")
        target = _target(url)
        payload = _request_bytes(method, target, headers, body)
        async with asyncio.timeout(self.timeout_seconds), self._slots:
            while True:
                conn = await self._connection(target.origin)
                try:
                    answer = await conn.send(payload)
                except UpstreamError:
                    # A kept-alive connection the handler closed as the request went out: a
                    # request that may safely run twice goes once more on a fresh connection;
                    # an event POST does not (the handler may have acted on it).
                    self._open.discard(conn)
                    if conn.reused and not conn.answer_started and method in _REPEATABLE:
                        continue
                    raise
                except BaseException:
                    conn.abandon()
                    self._open.discard(conn)
                    raise
                self._release(target.origin, conn)
                return answer

    async def _connection(self, origin: _Origin) -> _Connection:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.idle:
                conn.reused = True
                return conn
            self._open.discard(conn)
        loop = asyncio.get_running_loop()
        tls = None
        if origin.scheme == "https":
            tls = self._tls = self._tls or ssl.create_default_context()
        try:
            _, conn = await loop.create_connection(
                _Connection, origin.host, origin.port, ssl=tls, server_hostname=origin.host if tls else None,
            )
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {origin.host_header}: {exc}") from exc
        self._open.add(conn)
        return conn

    def _release(self, origin: _Origin, conn: _Connection) -> None:
        if conn.idle and not self._closed:
            self._idle.setdefault(origin, deque()).append(conn)
        else:
            self._open.discard(conn)

    async def close(self) -> None:
        self._closed = True
        for conn in list(self._open):
            conn.abandon()
        self._open.clear()
        self._idle.clear()

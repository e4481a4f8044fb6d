"""The service's event-handler client against real sockets: every way a handler may frame
its answer, kept-alive connections reused and replaced, and the failures a caller sees."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from localpubsub.http_client import Answer, HttpClient, UpstreamError

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.integration]

Answerer = Callable[[bytes, int], bytes | None]  # the request, its number on its connection


class RawHandler:
    """A TCP server that reads each request in full and writes what `answer` returns for it
    (None: close without answering), counting connections and requests."""

    def __init__(self, answer: Answerer, *, close_after_answer: bool = False, delay: float = 0) -> None:
        self.answer = answer
        self.close_after_answer = close_after_answer
        self.delay = delay
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/events?hub=live"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            for number in range(1, 1_000_000):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
                    0,
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                await asyncio.sleep(self.delay)
                reply = self.answer(request, number)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient(timeout_seconds=2, limit=4)
    yield http
    await http.close()


async def serving(answer: Answerer, **kwargs: bool | float) -> RawHandler:
    handler = RawHandler(answer, **kwargs)
    await handler.start()
    return handler


async def two_posts(client: HttpClient, handler: RawHandler) -> tuple[Answer, Answer]:
    """Two POSTs one after the other, then the handler stops."""
    try:
        return (await client.request("POST", handler.url, {}, b""), await client.request("POST", handler.url, {}, b""))
    finally:
        await handler.stop()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> Answerer:
    return lambda *_: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


async def test_a_post_carries_its_path_host_headers_and_body_and_the_answer_comes_back(client):
    handler = await serving(ok(extra=b"ce-connectionState: c3RhdGU=\r\n"))
    try:
        answer = await client.request("POST", handler.url, {"ce-eventName": "vote", "Content-Type": "application/json"},
                                      b'{"choice":1}')
    finally:
        await handler.stop()
    port = handler.port
    request = handler.requests[0]
    head, body = request.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/events?hub=live HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}".encode() in lines
    assert b"ce-eventName: vote" in lines and b"Content-Length: 12" in lines
    assert body == b'{"choice":1}'
    assert answer.status == 200 and answer.body == b'{"ok":true}'
    assert answer.headers["ce-connectionstate"] == "c3RhdGU="  # names are case-insensitive


async def test_calls_one_after_another_share_one_kept_alive_connection(client):
    handler = await serving(ok())
    try:
        for _ in range(5):
            assert (await client.request("POST", handler.url, {}, b"x")).status == 200
    finally:
        await handler.stop()
    assert handler.connections == 1 and len(handler.requests) == 5


async def test_concurrent_calls_open_at_most_the_limit_of_connections(client):
    handler = await serving(ok(), delay=0.02)
    try:
        answers = await asyncio.gather(*(client.request("POST", handler.url, {}, b"x") for _ in range(40)))
    finally:
        await handler.stop()
    assert all(a.status == 200 for a in answers)
    assert len(handler.requests) == 40 and handler.connections == 4


async def test_a_chunked_answer_is_read_whole(client):
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    handler = await serving(lambda *_: chunked)
    first, second = await two_posts(client, handler)
    assert first.body == second.body == b"hello world"
    assert handler.connections == 1


async def test_an_answer_without_a_length_ends_with_its_connection_and_is_not_reused(client):
    handler = await serving(lambda *_: b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", close_after_answer=True)
    first, second = await two_posts(client, handler)
    assert first.body == second.body == b"until the end"
    assert handler.connections == 2


async def test_a_handler_that_closes_its_idle_connection_gets_the_next_call_on_a_new_one(client):
    handler = await serving(ok(b"", b"Connection: keep-alive\r\n"))
    try:
        await client.request("POST", handler.url, {}, b"one")
        for writer in handler.writers:
            writer.close()  # the handler's keep-alive timeout
        await asyncio.sleep(0.05)
        answer = await client.request("POST", handler.url, {}, b"two")
    finally:
        await handler.stop()
    assert answer.status == 200
    assert handler.connections == 2 and [r.rsplit(b"\r\n", 1)[-1] for r in handler.requests] == [b"one", b"two"]


async def test_a_kept_alive_connection_closed_as_a_post_goes_out_fails_that_post_without_repeating_it(client):
    """The handler may have acted on the event before closing: it is not sent twice."""
    handler = await serving(lambda request, number: ok()(request, number) if number == 1 else None)
    try:
        await client.request("POST", handler.url, {}, b"one")
        with pytest.raises(UpstreamError):
            await client.request("POST", handler.url, {}, b"vote")
    finally:
        await handler.stop()
    assert handler.connections == 1 and len(handler.requests) == 2


async def test_a_kept_alive_connection_closed_as_an_options_call_goes_out_is_retried_on_a_new_one(client):
    handler = await serving(lambda request, number: ok()(request, number) if number == 1 else None)
    try:
        await client.request("OPTIONS", handler.url, {})
        answer = await client.request("OPTIONS", handler.url, {})
    finally:
        await handler.stop()
    assert answer.status == 200
    assert handler.connections == 2 and len(handler.requests) == 3


async def test_a_handler_that_closes_without_answering_is_an_error_and_the_call_is_not_repeated(client):
    handler = await serving(lambda *_: None)
    try:
        with pytest.raises(UpstreamError):
            await client.request("POST", handler.url, {}, b"vote")
    finally:
        await handler.stop()
    assert len(handler.requests) == 1


async def test_an_answer_that_is_not_http_is_an_error(client):
    handler = await serving(lambda *_: b"SMTP ready\r\n\r\n")
    try:
        with pytest.raises(UpstreamError):
            await client.request("POST", handler.url, {}, b"")
    finally:
        await handler.stop()


async def test_a_handler_that_never_answers_times_out_and_its_connection_is_dropped():
    handler = await serving(lambda *_: b"")
    http = HttpClient(timeout_seconds=0.3, limit=4)
    try:
        with pytest.raises(TimeoutError):
            await http.request("POST", handler.url, {}, b"")
        handler.answer = ok()
        assert (await http.request("POST", handler.url, {}, b"")).status == 200
    finally:
        await http.close()
        await handler.stop()
    assert handler.connections == 2  # the late answer can never be taken for the next call's


async def test_an_unreachable_handler_is_an_error(client):
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(UpstreamError):
        await client.request("POST", f"http://127.0.0.1:{port}/api/events", {}, b"")


@pytest.mark.parametrize("headers", [{"ce-userId": "u\r\nX-Injected: 1"}, {"bad\nname": "v"}, {"a:b": "v"}])
async def test_a_header_with_a_line_break_is_never_sent(client, headers):
    handler = await serving(ok())
    try:
        with pytest.raises(UpstreamError):
            await client.request("POST", handler.url, headers, b"")
    finally:
        await handler.stop()
    assert handler.requests == []


async def test_a_url_that_is_not_http_is_an_error(client):
    with pytest.raises(UpstreamError):
        await client.request("POST", "ftp://127.0.0.1/events", {}, b"")

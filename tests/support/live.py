"""Live-class scenarios: classes built through the public API, and real WebSocket clients that
speak `json.webpubsub.azure.v1` to the local Web PubSub service the way a browser page does.

A `LiveClient` keeps every class message it receives, tracks the class `seq` like a page
does (a jump of more than one is a gap, to be healed with `GET .../state`), and sends
client events with a `ref` so it can await the server's acknowledgement of each.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx

from tests.support.actors import Actor
from tests.support.content import enrol, published_course
from tests.support.live_contract import check as check_contract

SUBPROTOCOL = "json.webpubsub.azure.v1"


async def create_class(api: httpx.AsyncClient, tutor: Actor, course_id: str, *, title: str = "Live class") -> dict:
    resp = await api.post(
        "classes",
        json={"courseId": course_id, "title": title, "scheduledAt": datetime.now(UTC).isoformat()},
        headers=tutor.headers,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def start_class(api: httpx.AsyncClient, tutor: Actor, class_id: str) -> dict:
    resp = await api.post(f"classes/{class_id}/start", headers=tutor.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def end_class(api: httpx.AsyncClient, tutor: Actor, class_id: str) -> dict:
    resp = await api.post(f"classes/{class_id}/end", headers=tutor.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def live_class(api: httpx.AsyncClient, tutor: Actor, *, started: bool = True) -> tuple[dict, dict]:
    """A published course of `tutor` and a class of it: (course, class)."""
    course, _ = await published_course(api, tutor)
    klass = await create_class(api, tutor, course["id"])
    if started:
        klass = await start_class(api, tutor, klass["id"])
    return course, klass


async def enrolled_students(api: httpx.AsyncClient, actor: Callable, course_id: str, count: int) -> list[Actor]:
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> Actor:
        async with gate:
            student = await actor("student", name=f"student-{i:03d}-{uuid.uuid4().hex[:4]}")
            await enrol(api, student, course_id)
            return student

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def new_session() -> aiohttp.ClientSession:
    """A client session for many WebSockets at once (aiohttp allows 100 connections by default)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def negotiate(api: httpx.AsyncClient, who: Actor, class_id: str) -> httpx.Response:
    return await api.post(f"classes/{class_id}/negotiate", headers=who.headers)


@dataclass
class Ack:
    ok: bool
    body: dict[str, Any]

    @property
    def reason(self) -> str | None:
        return self.body.get("reason")


@dataclass
class LiveClient:
    """One browser tab in a class."""

    who: Actor
    class_id: str
    session: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse | None = None
    connection_id: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    last_seq: int = 0
    gaps: int = 0
    closed_reason: str | None = None
    # Acknowledgements that answer no `send` of ours (a frame sent raw, with no readable ref).
    loose_acks: list[Ack] = field(default_factory=list)
    _acks: dict[str, asyncio.Future] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task | None = None
    _ack_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def connect(self, url: str, *, timeout: float = 20.0) -> None:
        self.ws = await asyncio.wait_for(
            self.session.ws_connect(url, protocols=(SUBPROTOCOL,), heartbeat=None,
                                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10)),
            timeout,
        )
        first = await asyncio.wait_for(self.ws.receive(), timeout)
        if first.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"connection refused: {first.type} {first.data} {first.extra}")
        hello = json.loads(first.data)
        if hello.get("type") != "system" or hello.get("event") != "connected":
            raise ConnectionError(f"expected the connected message first, got {hello}")
        self.connection_id = hello.get("connectionId")
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            packet = json.loads(frame.data)
            if packet.get("type") == "message" and isinstance(packet.get("data"), dict):
                data = packet["data"]
                check_contract(data)  # every message the server sends fits docs/asyncapi.json
                if data.get("type") == "ack" and packet.get("from") == "server":
                    future = self._acks.pop(str(data.get("ref")), None)
                    if future is not None and not future.done():
                        future.set_result(Ack(bool(data.get("ok")), data))
                    else:
                        async with self._changed:
                            self.loose_acks.append(Ack(bool(data.get("ok")), data))
                            self._changed.notify_all()
                    continue
                seq = data.get("seq")
                if isinstance(seq, int) and seq > self.last_seq:
                    if self.last_seq and seq > self.last_seq + 1:
                        self.gaps += 1
                    self.last_seq = seq
                async with self._changed:
                    self.messages.append(data)
                    self._changed.notify_all()
            elif packet.get("type") == "system" and packet.get("event") == "disconnected":
                self.closed_reason = packet.get("message") or "disconnected"
        async with self._changed:
            self.closed_reason = self.closed_reason or "closed"
            self._changed.notify_all()

    async def send(self, event: str, data: dict[str, Any] | None = None, *, timeout: float = 15.0) -> Ack:
        """Sends a client event and waits for the server's acknowledgement of it."""
        assert self.ws is not None
        ref = uuid.uuid4().hex[:12]
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._acks[ref] = future
        await self.ws.send_str(
            json.dumps({"type": "event", "event": event, "ackId": next(self._ack_ids), "dataType": "json",
                        "data": {**(data or {}), "ref": ref}})
        )
        return await asyncio.wait_for(future, timeout)

    async def send_frame(self, event: str, data_type: str, data: Any, *, timeout: float = 15.0) -> Ack:
        """Sends a client event whose data is given as is (no ref is added) and waits for
        the server's acknowledgement, which can carry no ref when the data was unreadable."""
        assert self.ws is not None
        before = len(self.loose_acks)
        await self.ws.send_str(
            json.dumps({"type": "event", "event": event, "ackId": next(self._ack_ids), "dataType": data_type, "data": data})
        )

        async def look() -> Ack:
            async with self._changed:
                while len(self.loose_acks) <= before:
                    if self.closed_reason:
                        raise ConnectionError(f"connection closed ({self.closed_reason}) before the ack came")
                    await self._changed.wait()
                return self.loose_acks[before]

        return await asyncio.wait_for(look(), timeout)

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == message_type]

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 15.0) -> dict[str, Any]:
        """The first message (already received or still to come) that matches."""

        async def look() -> dict[str, Any]:
            async with self._changed:
                while True:
                    for message in self.messages:
                        if predicate(message):
                            return message
                    if self.closed_reason:
                        raise ConnectionError(f"connection closed ({self.closed_reason}) before the message came")
                    await self._changed.wait()

        return await asyncio.wait_for(look(), timeout)

    async def wait_closed(self, *, timeout: float = 15.0) -> str:
        async def look() -> str:
            async with self._changed:
                while not self.closed_reason:
                    await self._changed.wait()
                return self.closed_reason

        return await asyncio.wait_for(look(), timeout)

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (TimeoutError, Exception):  # noqa: BLE001 - closing is best effort
                self._reader.cancel()


async def join(
    api: httpx.AsyncClient, session: aiohttp.ClientSession, who: Actor, class_id: str
) -> LiveClient:
    """Negotiates and connects, as the page does."""
    resp = await negotiate(api, who, class_id)
    assert resp.status_code == 200, resp.text
    client = LiveClient(who=who, class_id=class_id, session=session)
    await client.connect(resp.json()["url"])
    return client


async def connect_refusal(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """The status and text with which the service refuses a WebSocket handshake (a browser
    sees only that it failed; the reason is in the body)."""
    http_url = url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    headers = {
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(uuid.uuid4().bytes).decode(), "Sec-WebSocket-Protocol": SUBPROTOCOL,
    }
    async with session.get(http_url, headers=headers) as resp:
        if resp.status == 101:
            raise AssertionError("the service accepted the connection")
        return resp.status, await resp.text()


async def connect_personal(api: httpx.AsyncClient, session: aiohttp.ClientSession, who: Actor) -> LiveClient:
    """The student app's own connection outside any class (`POST /api/me/negotiate`)."""
    resp = await api.post("me/negotiate", headers=who.headers)
    assert resp.status_code == 200, resp.text
    client = LiveClient(who=who, class_id="", session=session)
    await client.connect(resp.json()["url"])
    return client


async def join_all(
    api: httpx.AsyncClient, session: aiohttp.ClientSession, people: list[Actor], class_id: str, *, concurrency: int = 64
) -> list[LiveClient]:
    gate = asyncio.Semaphore(concurrency)

    async def one(who: Actor) -> LiveClient:
        async with gate:
            return await join(api, session, who, class_id)

    return list(await asyncio.gather(*(one(p) for p in people)))


async def close_all(clients: list[LiveClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

"""Clients the tests drive the service with: the official SDKs and raw aiohttp WebSockets."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from azure.messaging.webpubsubclient.aio import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import (
    CallbackType,
    OnConnectedArgs,
    OnDisconnectedArgs,
    OnGroupDataMessageArgs,
    OnServerDataMessageArgs,
)
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient as AioServiceClient

JSON_V1 = "json.webpubsub.azure.v1"
RELIABLE_V1 = "json.reliable.webpubsub.azure.v1"

ACCESS_KEY = "bG9jYWxwdWJzdWItdGVzdC1rZXktbm90LWEtc2VjcmV0"
GRACE_SECONDS = 2.0
SEND_BUFFER_LIMIT = 256 * 1024
MAX_MESSAGE = 1_048_576


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def signature(connection_id: str, key: str = ACCESS_KEY) -> str:
    return "sha256=" + hmac.new(key.encode(), connection_id.encode(), hashlib.sha256).hexdigest()


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass(frozen=True)
class PubSub:
    """Where the service under test listens."""

    port: int
    access_key: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connection_string(self) -> str:
        return f"Endpoint=http://127.0.0.1;Port={self.port};AccessKey={self.access_key};Version=1.0;"

    def ws_url(self, hub: str) -> str:
        return f"ws://127.0.0.1:{self.port}/client/hubs/{hub}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")




def service(pubsub: PubSub, hub: str) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(pubsub.connection_string, hub=hub, retry_total=0)


def aio_service(pubsub: PubSub, hub: str) -> AioServiceClient:
    return AioServiceClient.from_connection_string(pubsub.connection_string, hub=hub, retry_total=0)


def client_url(
    pubsub: PubSub,
    hub: str,
    *,
    user_id: str | None = None,
    roles: Iterable[str] = (),
    groups: Iterable[str] = (),
    extra_query: str = "",
) -> str:
    """A client access URL the way an app server hands one out (signed locally by the SDK)."""
    token = service(pubsub, hub).get_client_access_token(user_id=user_id, roles=list(roles), groups=list(groups))
    return token["url"] + extra_query


class RawClient:
    """A bare aiohttp WebSocket client that keeps every frame it receives."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.session = session
        self.ws = ws
        # JSON messages read while looking for another one, served first to later reads.
        self.backlog: list[dict[str, Any]] = []

    @classmethod
    async def connect(
        cls, url: str, protocols: Iterable[str] = (JSON_V1,), headers: dict[str, str] | None = None
    ) -> RawClient:
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(url, protocols=tuple(protocols), headers=headers, autoping=True)
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    async def receive(self, timeout: float = 3.0) -> aiohttp.WSMessage:
        return await self.ws.receive(timeout=timeout)

    async def receive_json(self, timeout: float = 3.0) -> dict[str, Any]:
        if self.backlog:
            return self.backlog.pop(0)
        message = await self.receive(timeout)
        assert message.type is aiohttp.WSMsgType.TEXT, f"expected a text frame, got {message.type}: {message.data!r}"
        return json.loads(message.data)

    async def receive_until(self, wanted: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
        """The next JSON message whose fields include `wanted`; others wait in the backlog."""

        def matches(message: dict[str, Any]) -> bool:
            return all(message.get(k) == v for k, v in wanted.items())

        for index, message in enumerate(self.backlog):
            if matches(message):
                return self.backlog.pop(index)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no message matching {wanted}")
            message = await self.receive(remaining)
            assert message.type is aiohttp.WSMsgType.TEXT, f"expected a text frame, got {message.type}: {message.data!r}"
            parsed = json.loads(message.data)
            if matches(parsed):
                return parsed
            self.backlog.append(parsed)

    async def send_json(self, value: Any) -> None:
        await self.ws.send_str(json.dumps(value))

    async def request(self, value: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
        """Send a message with an ackId and return its ack."""
        await self.send_json(value)
        return await self.receive_until({"type": "ack", "ackId": value["ackId"]}, timeout)

    async def expect_closed(self, timeout: float = 3.0) -> int | None:
        """Read until the service closes the socket; the close code in its close frame
        (None when the socket ended without one)."""
        while True:
            message = await self.receive(timeout)
            if message.type is aiohttp.WSMsgType.CLOSE:
                return int(message.data)
            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                return None

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def connected(url: str, protocols: Iterable[str] = (JSON_V1,)) -> tuple[RawClient, dict[str, Any]]:
    """A raw JSON-subprotocol client and its `connected` system message."""
    client = await RawClient.connect(url, protocols)
    hello = await client.receive_json()
    assert hello["type"] == "system" and hello["event"] == "connected", hello
    return client, hello


@dataclass
class Inbox:
    """What an official client received, through its callbacks."""

    connected: list[OnConnectedArgs] = field(default_factory=list)
    disconnected: list[OnDisconnectedArgs] = field(default_factory=list)
    group: list[OnGroupDataMessageArgs] = field(default_factory=list)
    server: list[OnServerDataMessageArgs] = field(default_factory=list)

    @property
    def connection_id(self) -> str:
        return self.connected[-1].connection_id


async def official_client(url: str, **options: Any) -> tuple[WebPubSubClient, Inbox]:
    """An opened `azure-messaging-webpubsubclient` aio client (reliable subprotocol by
    default, as the SDK chooses) that has received its `connected` message."""
    inbox = Inbox()
    client = WebPubSubClient(WebPubSubClientCredential(url), **options)

    async def on_connected(args: OnConnectedArgs) -> None:
        inbox.connected.append(args)

    async def on_disconnected(args: OnDisconnectedArgs) -> None:
        inbox.disconnected.append(args)

    async def on_group(args: OnGroupDataMessageArgs) -> None:
        inbox.group.append(args)

    async def on_server(args: OnServerDataMessageArgs) -> None:
        inbox.server.append(args)

    await client.subscribe(CallbackType.CONNECTED, on_connected)
    await client.subscribe(CallbackType.DISCONNECTED, on_disconnected)
    await client.subscribe(CallbackType.GROUP_MESSAGE, on_group)
    await client.subscribe(CallbackType.SERVER_MESSAGE, on_server)
    await client.open()
    await eventually(lambda: inbox.connected, what="connected message")
    return client, inbox

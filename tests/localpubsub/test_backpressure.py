"""A client that stops reading is dropped once its send buffer passes the bound; everyone
else keeps receiving."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.localpubsub.helpers import SEND_BUFFER_LIMIT, PubSub, RawClient, aio_service, client_url

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.integration]

HUB = "chat"


def kernel_send_buffer_max() -> int:
    """The most a TCP socket's kernel send buffer grows to here (`tcp_wmem`'s ceiling): a
    stalled reader's bytes fill it before any stay in the service's own buffer."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 * 1_048_576


def stalled_client(url: str) -> socket.socket:
    """A WebSocket client with a tiny receive window that completes the handshake and then
    never reads another byte."""
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


async def test_a_client_that_never_reads_is_dropped_and_others_get_everything(pubsub: PubSub) -> None:
    stalled = await asyncio.to_thread(stalled_client, client_url(pubsub, HUB, user_id="stalled", groups=["firehose"]))
    reader = await RawClient.connect(client_url(pubsub, HUB, user_id="reader", groups=["firehose"]), ())
    try:
        chunk = 64 * 1024
        # Enough to fill the kernel's send buffer to the stalled client and then the service's
        # bound several times over, wherever autotuning lets the kernel buffer grow to.
        count = (kernel_send_buffer_max() + 8 * SEND_BUFFER_LIMIT) // chunk + 16
        async with aio_service(pubsub, HUB) as api:
            assert await api.user_exists("stalled")
            received = 0

            async def read_all() -> None:
                nonlocal received
                while received < count:
                    message = await reader.receive(timeout=10)
                    assert message.type is aiohttp.WSMsgType.BINARY and len(message.data) == chunk
                    assert message.data[:4] == received.to_bytes(4, "big")
                    received += 1

            reading = asyncio.create_task(read_all())
            for n in range(count):
                await api.send_to_group("firehose", n.to_bytes(4, "big") + bytes(chunk - 4), content_type="application/octet-stream")
            await asyncio.wait_for(reading, 15)
            assert received == count
            for _ in range(200):
                if not await api.user_exists("stalled"):
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the stalled client was never dropped")
        assert "send buffer is full" in pubsub.log()
    finally:
        stalled.close()
        await reader.close()

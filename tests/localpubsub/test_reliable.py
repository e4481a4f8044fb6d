"""The reliable subprotocol: sequence ids, acks, and recovering a dropped connection
without losing a message."""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import quote

import jwt
import pytest

from tests.localpubsub.conftest import EventHandler
from tests.localpubsub.helpers import (
    GRACE_SECONDS,
    RELIABLE_V1,
    PubSub,
    RawClient,
    aio_service,
    client_url,
    connected,
    eventually,
    official_client,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.integration]

HUB = "chat"


def drop(client: RawClient) -> None:
    """Cut the TCP connection under the WebSocket, as a network failure would: no close frame."""
    client.ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)


def recovery_url(pubsub: PubSub, hub: str, connection_id: str, token: str, access_token: str = "") -> str:
    url = f"{pubsub.ws_url(hub)}?awps_connection_id={quote(connection_id)}&awps_reconnection_token={quote(token)}"
    return url + (f"&access_token={access_token}" if access_token else "")


async def data_messages(client: RawClient, count: int) -> list[dict]:
    return [await client.receive_until({"type": "message"}) for _ in range(count)]


async def test_messages_carry_increasing_sequence_ids(pubsub: PubSub) -> None:
    client, hello = await connected(client_url(pubsub, HUB, user_id="seq", groups=["s"]), (RELIABLE_V1,))
    async with client:
        async with aio_service(pubsub, HUB) as api:
            for n in range(3):
                await api.send_to_group("s", {"n": n})
        got = await data_messages(client, 3)
        assert [(m["sequenceId"], m["data"]["n"]) for m in got] == [(1, 0), (2, 1), (3, 2)]
        assert got[0] == {"type": "message", "from": "server", "dataType": "json", "data": {"n": 0}, "sequenceId": 1}


async def test_reconnection_replays_everything_unacked_even_with_an_expired_access_token(
    pubsub: PubSub, event_handler: EventHandler
) -> None:
    hub = "live"
    client, hello = await connected(client_url(pubsub, hub, user_id="mobile", groups=["feed"]), (RELIABLE_V1,))
    cid, token = hello["connectionId"], hello["reconnectionToken"]
    async with aio_service(pubsub, hub) as api:
        for n in (1, 2):
            await api.send_to_group("feed", {"n": n})
        assert [m["data"]["n"] for m in await data_messages(client, 2)] == [1, 2]
        await client.send_json({"type": "sequenceAck", "sequenceId": 1})
        await client.send_json({"type": "ping"})
        assert await client.receive_json() == {"type": "pong"}

        drop(client)
        await client.close()
        for n in (3, 4, 5):  # sent while the client is away
            await api.send_to_group("feed", {"n": n})
        assert await api.connection_exists(cid)

        expired = jwt.encode(
            {"aud": f"http://127.0.0.1:{pubsub.port}/client/hubs/{hub}", "exp": int(time.time()) - 60},
            pubsub.access_key, algorithm="HS256",
        )
        back, hello_again = await connected(recovery_url(pubsub, hub, cid, token, expired), (RELIABLE_V1,))
        async with back:
            assert hello_again["connectionId"] == cid
            replayed = await data_messages(back, 4)
            assert [(m["sequenceId"], m["data"]["n"]) for m in replayed] == [(2, 2), (3, 3), (4, 4), (5, 5)]
            await api.send_to_group("feed", {"n": 6})
            assert (await back.receive_until({"type": "message"}))["sequenceId"] == 6
            # One connection from the handler's point of view: no second connect, no disconnected.
            assert [c.event for c in event_handler.of(cid)] == ["connect", "connected"]
    await event_handler.next(cid, "disconnected")


async def test_acked_messages_are_not_replayed(pubsub: PubSub) -> None:
    client, hello = await connected(client_url(pubsub, HUB, user_id="acker", groups=["a"]), (RELIABLE_V1,))
    async with aio_service(pubsub, HUB) as api:
        for n in range(3):
            await api.send_to_group("a", {"n": n})
        await data_messages(client, 3)
        await client.send_json({"type": "sequenceAck", "sequenceId": 3})
        await client.send_json({"type": "ping"})
        await client.receive_until({"type": "pong"})
        drop(client)
        await client.close()
        back, _ = await connected(recovery_url(pubsub, HUB, hello["connectionId"], hello["reconnectionToken"]), (RELIABLE_V1,))
        async with back:
            await back.send_json({"type": "ping"})
            assert await back.receive_json() == {"type": "pong"}  # nothing replayed before it


async def test_official_client_recovers_a_dropped_socket_without_loss(pubsub: PubSub) -> None:
    client, inbox = await official_client(client_url(pubsub, HUB, user_id="sdk-reliable", groups=["stream"]))
    cid = inbox.connection_id
    try:
        async with aio_service(pubsub, HUB) as api:
            for n in range(3):
                await api.send_to_group("stream", {"n": n})
            await eventually(lambda: len(inbox.server) == 3, what="first messages")
            client._ws.sock.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            for n in range(3, 8):
                await api.send_to_group("stream", {"n": n})
            await eventually(lambda: len(inbox.server) >= 8, timeout=10, what="messages sent during the gap")
            await api.send_to_group("stream", {"n": 8})
            await eventually(lambda: len(inbox.server) >= 9, what="a message after recovery")
        assert [m.data["n"] for m in inbox.server] == list(range(9))
        assert [c.connection_id for c in inbox.connected] == [cid]  # recovered, not reconnected
        assert not inbox.disconnected
    finally:
        await client.close()


async def test_failed_recovery_closes_with_policy_violation(pubsub: PubSub) -> None:
    client, hello = await connected(client_url(pubsub, HUB, user_id="r"), (RELIABLE_V1,))
    async with client:
        for url in (
            recovery_url(pubsub, HUB, hello["connectionId"], "not-the-token"),
            recovery_url(pubsub, HUB, "no-such-connection", hello["reconnectionToken"]),
            recovery_url(pubsub, "otherhub", hello["connectionId"], hello["reconnectionToken"]),
        ):
            attempt = await RawClient.connect(url, (RELIABLE_V1,))
            async with attempt:
                assert attempt.ws.protocol == RELIABLE_V1
                assert await attempt.expect_closed() == 1008
        await client.send_json({"type": "ping"})
        assert await client.receive_json() == {"type": "pong"}  # the real connection is untouched


async def test_unrecovered_connection_is_disconnected_after_the_grace_period(
    pubsub: PubSub, event_handler: EventHandler
) -> None:
    client, hello = await connected(client_url(pubsub, "live", user_id="gone"), (RELIABLE_V1,))
    cid = hello["connectionId"]
    await event_handler.next(cid, "connected")
    dropped_at = time.monotonic()
    drop(client)
    await client.close()
    async with aio_service(pubsub, "live") as api:
        await asyncio.sleep(GRACE_SECONDS / 2)
        assert await api.connection_exists(cid)
        assert not event_handler.of(cid, "disconnected")
        disconnected = await event_handler.next(cid, "disconnected", timeout=GRACE_SECONDS + 3)
        assert time.monotonic() - dropped_at >= GRACE_SECONDS * 0.9
        assert "not recovered" in disconnected.json()["reason"]
        assert not await api.connection_exists(cid)
    late = await RawClient.connect(recovery_url(pubsub, "live", cid, hello["reconnectionToken"]), (RELIABLE_V1,))
    async with late:
        assert await late.expect_closed() == 1008


async def test_a_clean_close_ends_a_reliable_connection_at_once(pubsub: PubSub, event_handler: EventHandler) -> None:
    client, hello = await connected(client_url(pubsub, "live", user_id="bye"), (RELIABLE_V1,))
    cid = hello["connectionId"]
    await client.close()
    disconnected = await event_handler.next(cid, "disconnected", timeout=GRACE_SECONDS / 2)
    assert "closed the connection (code 1000)" in disconnected.json()["reason"]

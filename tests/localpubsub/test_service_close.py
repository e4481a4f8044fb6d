"""A connection the service closes (REST close of a connection, a user, a group, or all) is
gone, as in Azure: not found by id, its user and group no longer exist, the reliable
reconnect with its token is refused with 1008, and upstream hears `disconnected` once."""

from __future__ import annotations

import socket
import uuid
from urllib.parse import quote

import pytest

from tests.localpubsub.conftest import EventHandler
from tests.localpubsub.helpers import (
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

HUB = "live"  # the hub whose events go to the test's event handler


def recovery_url(pubsub: PubSub, connection_id: str, token: str) -> str:
    return f"{pubsub.ws_url(HUB)}?awps_connection_id={quote(connection_id)}&awps_reconnection_token={quote(token)}"


@pytest.mark.parametrize("how", ["connection", "user", "group", "all"])
async def test_a_reliable_connection_closed_by_the_service_is_gone_and_cannot_be_recovered(
    pubsub: PubSub, event_handler: EventHandler, how: str
) -> None:
    user, group = f"closed-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    client, hello = await connected(client_url(pubsub, HUB, user_id=user, groups=[group]), (RELIABLE_V1,))
    cid, token = hello["connectionId"], hello["reconnectionToken"]
    await event_handler.next(cid, "connected")
    async with aio_service(pubsub, HUB) as api:
        assert await api.connection_exists(cid) and await api.user_exists(user) and await api.group_exists(group)
        reason = f"closed by {how}"
        if how == "connection":
            await api.close_connection(cid, reason=reason)
        elif how == "user":
            await api.close_user_connections(user, reason=reason)
        elif how == "group":
            await api.close_group_connections(group, reason=reason)
        else:
            await api.close_all_connections(reason=reason)
        # Gone as soon as the close is answered, not only once the client has answered it.
        assert not await api.connection_exists(cid)
        assert not await api.user_exists(user)
        assert not await api.group_exists(group)
        await api.send_to_user(user, {"after": "close"})

        assert (await client.receive_until({"type": "system", "event": "disconnected"}))["message"] == reason
        assert await client.expect_closed() == 1000
        await client.close()

        late = await RawClient.connect(recovery_url(pubsub, cid, token), (RELIABLE_V1,))
        async with late:
            assert await late.expect_closed() == 1008
        assert not await api.connection_exists(cid)
        assert not await api.user_exists(user)

    disconnected = await event_handler.next(cid, "disconnected")
    assert disconnected.json()["reason"] == reason
    assert len(event_handler.of(cid, "disconnected")) == 1


async def test_a_suspended_reliable_connection_closed_by_the_service_is_not_kept_for_recovery(
    pubsub: PubSub, event_handler: EventHandler
) -> None:
    """The service keeps a dropped reliable connection for its client to resume; a close
    through REST ends that wait too."""
    user = f"away-{uuid.uuid4().hex[:8]}"
    client, hello = await connected(client_url(pubsub, HUB, user_id=user), (RELIABLE_V1,))
    cid, token = hello["connectionId"], hello["reconnectionToken"]
    await event_handler.next(cid, "connected")
    client.ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
    await client.close()
    async with aio_service(pubsub, HUB) as api:
        assert await api.connection_exists(cid)  # waiting to be resumed
        await api.close_user_connections(user, reason="removed while away")
        assert not await api.connection_exists(cid)
        assert not await api.user_exists(user)
    late = await RawClient.connect(recovery_url(pubsub, cid, token), (RELIABLE_V1,))
    async with late:
        assert await late.expect_closed() == 1008
    assert (await event_handler.next(cid, "disconnected")).json()["reason"] == "removed while away"


async def test_the_official_client_is_not_resumed_after_the_service_closes_it(
    pubsub: PubSub, event_handler: EventHandler
) -> None:
    """The official client tries to recover its connection; the service refuses, so the old
    connection id never comes back: the client opens a new connection with its token.

    The test waits for that new connection before closing the client. Closing it while its
    reconnect is still waiting on the old connection's tasks makes two waiters on one task
    in the SDK, and from Python 3.12 the waiter that times out cancels the task under the
    other, whose close then raises CancelledError."""
    user = f"sdk-closed-{uuid.uuid4().hex[:8]}"
    client, inbox = await official_client(client_url(pubsub, HUB, user_id=user))
    cid = inbox.connection_id
    try:
        async with aio_service(pubsub, HUB) as api:
            await api.close_connection(cid, reason="goodbye")
            assert not await api.connection_exists(cid)
            await eventually(lambda: inbox.disconnected, timeout=10, what="the client's disconnected callback")
            assert inbox.disconnected[0].message == "goodbye"
            await eventually(lambda: len(inbox.connected) > 1, timeout=10, what="the client's new connection")
            assert all(c.connection_id != cid for c in inbox.connected[1:]), "the closed connection was resumed"
            assert not await api.connection_exists(cid)
            assert await api.connection_exists(inbox.connection_id)
        assert (await event_handler.next(cid, "disconnected")).json()["reason"] == "goodbye"
    finally:
        await client.close()

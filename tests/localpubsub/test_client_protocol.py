"""The client side: handshake and tokens, the JSON subprotocol's messages, plain clients,
and what the service does with bad input."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import aiohttp
import jwt
import pytest
from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import CallbackType, WebPubSubDataType

from tests.localpubsub.helpers import (
    JSON_V1,
    MAX_MESSAGE,
    RELIABLE_V1,
    PubSub,
    RawClient,
    aio_service,
    client_url,
    connected,
    official_client,
    service,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

HUB = "chat"  # no event handler: the service alone decides
ALL_ROLES = ("webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")


def group_name() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"


def signed(pubsub: PubSub, claims: dict, key: str | None = None) -> str:
    return jwt.encode(claims, key or pubsub.access_key, algorithm="HS256")


async def handshake_status(url: str, **kwargs: object) -> int:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url, **kwargs)
    return refused.value.status


# --- handshake ------------------------------------------------------------------------------
async def test_official_client_connects_reliably_and_learns_its_connection(pubsub: PubSub) -> None:
    client, inbox = await official_client(client_url(pubsub, HUB, user_id="ada"))
    try:
        assert inbox.connected[0].user_id == "ada"
        async with aio_service(pubsub, HUB) as api:
            assert await api.connection_exists(inbox.connection_id)
            assert await api.user_exists("ada")
    finally:
        await client.close()


async def test_handshake_echoes_the_subprotocol_the_service_chose(pubsub: PubSub) -> None:
    url = client_url(pubsub, HUB, user_id="u")
    async with await RawClient.connect(url, ("custom.protocol", RELIABLE_V1, JSON_V1)) as reliable:
        assert reliable.ws.protocol == RELIABLE_V1
        hello = await reliable.receive_json()
        assert hello["event"] == "connected" and hello["reconnectionToken"]
    async with await RawClient.connect(url, (JSON_V1,)) as plain_json:
        assert plain_json.ws.protocol == JSON_V1
        hello = await plain_json.receive_json()
        assert hello == {"type": "system", "event": "connected", "connectionId": hello["connectionId"], "userId": "u"}
    async with await RawClient.connect(url, ()) as plain:
        assert plain.ws.protocol is None
        with pytest.raises(asyncio.TimeoutError):
            await plain.receive(timeout=0.3)  # plain clients get no system messages


async def test_token_in_authorization_header_is_accepted(pubsub: PubSub) -> None:
    token = service(pubsub, HUB).get_client_access_token(user_id="bearer-user")["token"]
    client = await RawClient.connect(pubsub.ws_url(HUB), (JSON_V1,), headers={"Authorization": f"Bearer {token}"})
    async with client:
        assert (await client.receive_json())["userId"] == "bearer-user"


async def test_expired_token_is_refused(pubsub: PubSub) -> None:
    token = signed(pubsub, {"aud": pubsub.ws_url(HUB).replace("ws://", "http://"), "exp": int(time.time()) - 5})
    assert await handshake_status(f"{pubsub.ws_url(HUB)}?access_token={token}") == 401


async def test_token_for_another_hub_or_port_is_refused(pubsub: PubSub) -> None:
    exp = int(time.time()) + 60
    other_hub = signed(pubsub, {"aud": f"http://127.0.0.1:{pubsub.port}/client/hubs/other", "exp": exp})
    other_port = signed(pubsub, {"aud": f"http://127.0.0.1:{pubsub.port + 1}/client/hubs/{HUB}", "exp": exp})
    for token in (other_hub, other_port):
        assert await handshake_status(f"{pubsub.ws_url(HUB)}?access_token={token}") == 401


async def test_token_signed_with_another_key_or_missing_is_refused(pubsub: PubSub) -> None:
    claims = {"aud": f"http://127.0.0.1:{pubsub.port}/client/hubs/{HUB}", "exp": int(time.time()) + 60}
    wrong = signed(pubsub, claims, key="c29tZS1vdGhlci1rZXktdGhhdC1pcy1sb25nLWVub3VnaA==")
    assert await handshake_status(f"{pubsub.ws_url(HUB)}?access_token={wrong}") == 401
    assert await handshake_status(pubsub.ws_url(HUB)) == 401


async def test_audience_host_is_compared_case_insensitively_and_localhost_means_loopback(pubsub: PubSub) -> None:
    exp = int(time.time()) + 60
    for host in ("LOCALHOST", "localhost", "127.0.0.1"):
        token = signed(pubsub, {"aud": f"http://{host}:{pubsub.port}/client/hubs/{HUB}", "exp": exp, "sub": host})
        client, hello = await connected(f"{pubsub.ws_url(HUB)}?access_token={token}")
        async with client:
            assert hello["userId"] == host


# --- groups and messages --------------------------------------------------------------------
async def test_group_messages_reach_members_in_every_data_type_and_no_echo_skips_the_sender(pubsub: PubSub) -> None:
    group = group_name()
    url_a = client_url(pubsub, HUB, user_id="alice", roles=ALL_ROLES)
    url_b = client_url(pubsub, HUB, user_id="bob", roles=ALL_ROLES)
    a, _ = await connected(url_a)
    b, _ = await connected(url_b)
    async with a, b:
        assert await a.request({"type": "joinGroup", "group": group, "ackId": 1}) == {"type": "ack", "ackId": 1, "success": True}
        assert (await b.request({"type": "joinGroup", "group": group, "ackId": 1}))["success"] is True

        sends = [("json", {"n": [1, 2]}), ("text", "hello"), ("binary", base64.b64encode(b"\x00\xff").decode())]
        for ack_id, (data_type, data) in enumerate(sends, start=10):
            ack = await a.request({"type": "sendToGroup", "group": group, "ackId": ack_id, "dataType": data_type, "data": data})
            assert ack["success"] is True
            got = await b.receive_until({"type": "message"})
            assert got == {"type": "message", "from": "group", "group": group, "fromUserId": "alice", "dataType": data_type, "data": data}
            echo = await a.receive_until({"type": "message"})
            assert echo["data"] == data

        await a.send_json({"type": "sendToGroup", "group": group, "noEcho": True, "dataType": "text", "data": "quiet"})
        assert (await b.receive_until({"type": "message"}))["data"] == "quiet"
        await a.send_json({"type": "ping"})
        assert await a.receive_json() == {"type": "pong"}  # nothing echoed before the pong

        assert (await b.request({"type": "leaveGroup", "group": group, "ackId": 2}))["success"] is True
        await a.request({"type": "sendToGroup", "group": group, "ackId": 20, "dataType": "text", "data": "after"})
        await b.send_json({"type": "ping"})
        assert await b.receive_json() == {"type": "pong"}  # b left, so no message came first


async def test_joining_or_sending_without_permission_is_forbidden(pubsub: PubSub) -> None:
    group = group_name()
    scoped = client_url(
        pubsub, HUB, user_id="scoped", roles=[f"webpubsub.joinLeaveGroup.{group}", f"webpubsub.sendToGroup.{group}"]
    )
    nobody, _ = await connected(client_url(pubsub, HUB, user_id="nobody"))
    limited, _ = await connected(scoped)
    async with nobody, limited:
        for message in (
            {"type": "joinGroup", "group": group, "ackId": 1},
            {"type": "leaveGroup", "group": group, "ackId": 2},
            {"type": "sendToGroup", "group": group, "ackId": 3, "dataType": "text", "data": "x"},
        ):
            ack = await nobody.request(message)
            assert ack["success"] is False and ack["error"]["name"] == "Forbidden"
        assert (await limited.request({"type": "joinGroup", "group": group, "ackId": 1}))["success"] is True
        other = await limited.request({"type": "joinGroup", "group": group + "-other", "ackId": 2})
        assert other["error"]["name"] == "Forbidden"
        sent = await limited.request({"type": "sendToGroup", "group": group, "ackId": 3, "dataType": "text", "data": "ok"})
        assert sent["success"] is True


async def test_repeated_ack_id_is_answered_duplicate_and_not_processed_twice(pubsub: PubSub) -> None:
    group = group_name()
    sender, _ = await connected(client_url(pubsub, HUB, user_id="s", roles=ALL_ROLES))
    member, _ = await connected(client_url(pubsub, HUB, user_id="m", roles=ALL_ROLES))
    async with sender, member:
        await member.request({"type": "joinGroup", "group": group, "ackId": 1})
        message = {"type": "sendToGroup", "group": group, "ackId": 7, "dataType": "text", "data": "once"}
        assert (await sender.request(message))["success"] is True
        again = await sender.request(message)
        assert again["success"] is False
        assert again["error"] == {"name": "Duplicate", "message": "Message with ack-id: 7 has been processed."}
        assert (await member.receive_until({"type": "message"}))["data"] == "once"
        await member.send_json({"type": "ping"})
        assert await member.receive_json() == {"type": "pong"}  # the duplicate was not delivered


async def test_invalid_data_and_unknown_types_get_invalid_data_acks(pubsub: PubSub) -> None:
    client, _ = await connected(client_url(pubsub, HUB, user_id="x", roles=ALL_ROLES))
    async with client:
        cases = [
            {"type": "sendToGroup", "group": "g", "ackId": 1, "dataType": "binary", "data": "%%% not base64"},
            {"type": "sendToGroup", "group": "g", "ackId": 2, "dataType": "text", "data": {"not": "text"}},
            {"type": "joinGroup", "ackId": 3},
            {"type": "event", "ackId": 4, "dataType": "text", "data": "no event name"},
            {"type": "sendToGroup", "group": "g", "ackId": 5, "dataType": "protobuf", "data": "AA=="},
            {"type": "teleport", "ackId": 6},
        ]
        for message in cases:
            ack = await client.request(message)
            assert ack["success"] is False and ack["error"]["name"] == "InvalidData", (message, ack)
        await client.send_json({"type": "teleport"})  # no ackId: ignored, the connection lives on
        await client.send_json({"type": "ping"})
        assert await client.receive_json() == {"type": "pong"}


async def test_malformed_frame_closes_the_connection_with_policy_violation(pubsub: PubSub) -> None:
    url = client_url(pubsub, HUB, user_id="bad", roles=ALL_ROLES)
    deep = '{"type": "event", "event": "e", "data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    for frame in ("this is not json", "[1, 2]", json.dumps({"ackId": 1}), json.dumps({"type": "ping", "ackId": "one"}), deep):
        client, hello = await connected(url)
        async with client:
            await client.ws.send_str(frame)
            disconnected = await client.receive_json()
            assert disconnected["type"] == "system" and disconnected["event"] == "disconnected"
            assert disconnected["message"].startswith("Invalid message")
            assert await client.expect_closed() == 1008
        async with aio_service(pubsub, HUB) as api:
            for _ in range(100):
                if not await api.connection_exists(hello["connectionId"]):
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the connection outlived its close")


async def test_message_of_exactly_one_megabyte_passes_and_a_larger_one_is_refused(pubsub: PubSub) -> None:
    group = group_name()
    member, _ = await connected(client_url(pubsub, HUB, user_id="member", groups=[group]))
    sender, _ = await connected(client_url(pubsub, HUB, user_id="sender", roles=ALL_ROLES))
    async with member, sender:
        envelope = {"type": "sendToGroup", "group": group, "ackId": 1, "dataType": "text", "data": ""}
        filler = MAX_MESSAGE - len(json.dumps(envelope))
        envelope["data"] = "x" * filler
        frame = json.dumps(envelope)
        assert len(frame.encode()) == MAX_MESSAGE
        await sender.ws.send_str(frame)
        assert (await sender.receive_until({"type": "ack"}, timeout=10))["success"] is True
        assert len((await member.receive_until({"type": "message"}, timeout=10))["data"]) == filler

        envelope["ackId"] = 2
        envelope["data"] += "x"
        await sender.ws.send_str(json.dumps(envelope))
        assert await sender.expect_closed(timeout=10) == 1009

        async with aio_service(pubsub, HUB) as api:
            await api.send_to_group(group, "still here", content_type="text/plain")
        assert (await member.receive_until({"type": "message"}))["data"] == "still here"


# --- groups from the token, plain clients, the sync client ------------------------------------
async def test_groups_in_the_token_are_joined_at_connect(pubsub: PubSub) -> None:
    group = group_name()
    client, _ = await connected(client_url(pubsub, HUB, user_id="early", groups=[group]))
    async with client:
        async with aio_service(pubsub, HUB) as api:
            assert await api.group_exists(group)
            await api.send_to_group(group, {"welcome": True})
        got = await client.receive_json()
        assert got == {"type": "message", "from": "server", "dataType": "json", "data": {"welcome": True}}


async def test_plain_client_receives_payloads_as_raw_frames(pubsub: PubSub) -> None:
    group = group_name()
    async with await RawClient.connect(client_url(pubsub, HUB, user_id="raw", groups=[group]), ()) as plain:
        async with aio_service(pubsub, HUB) as api:
            await api.send_to_group(group, {"hello": "world"}, content_type="application/json")
            await api.send_to_group(group, "just text", content_type="text/plain")
            await api.send_to_group(group, b"\x00\x01\x02", content_type="application/octet-stream")
        first, second, third = [await plain.receive() for _ in range(3)]
        assert first.type is aiohttp.WSMsgType.TEXT and json.loads(first.data) == {"hello": "world"}
        assert second.type is aiohttp.WSMsgType.TEXT and second.data == "just text"
        assert third.type is aiohttp.WSMsgType.BINARY and third.data == b"\x00\x01\x02"


async def test_sync_official_client_publishes_to_a_group_it_joined(pubsub: PubSub) -> None:
    group = group_name()
    url = client_url(pubsub, HUB, user_id="sync-user", roles=ALL_ROLES)

    def run() -> list[tuple[str, object]]:
        received: list[tuple[str, object]] = []
        client = WebPubSubClient(WebPubSubClientCredential(url))
        client.subscribe(CallbackType.GROUP_MESSAGE, lambda e: received.append((e.from_user_id, e.data)))
        with client:
            client.join_group(group)
            client.send_to_group(group, {"from": "sync"}, WebPubSubDataType.JSON)
            client.send_to_group(group, memoryview(b"\x07\x08"), WebPubSubDataType.BINARY)
            deadline = time.monotonic() + 5
            while len(received) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        return received

    received = await asyncio.to_thread(run)
    assert received[0] == ("sync-user", {"from": "sync"})
    assert received[1][0] == "sync-user" and bytes(received[1][1]) == b"\x07\x08"

"""Upstream events: a real HTTP event handler receives the service's CloudEvents calls."""

from __future__ import annotations

import asyncio
import base64
import json
import re

import aiohttp
import pytest
from azure.messaging.webpubsubclient.models import WebPubSubDataType

from tests.localpubsub.conftest import EventHandler
from tests.localpubsub.helpers import (
    JSON_V1,
    RELIABLE_V1,
    PubSub,
    RawClient,
    aio_service,
    client_url,
    connected,
    eventually,
    official_client,
    signature,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.integration]

HUB = "live"


async def test_handler_is_validated_once_before_its_first_event(pubsub: PubSub, event_handler: EventHandler) -> None:
    for _ in range(2):
        client, _ = await connected(client_url(pubsub, HUB, user_id="v"))
        await client.close()
    options = event_handler.options_calls()
    assert len(options) == 1
    assert event_handler.calls[0] is options[0]  # nothing was posted before the handshake
    assert options[0].headers["webhook-request-origin"] == "127.0.0.1"


async def test_connect_event_carries_every_cloudevents_header_and_the_request(
    pubsub: PubSub, event_handler: EventHandler
) -> None:
    url = client_url(pubsub, HUB, user_id="ce-user", roles=["webpubsub.joinLeaveGroup"], extra_query="&mode=accept&foo=bar")
    client, hello = await connected(url, (RELIABLE_V1,))
    cid = hello["connectionId"]
    try:
        connect = event_handler.of(cid, "connect")[0]
        headers = connect.headers
        assert headers["ce-specversion"] == "1.0"
        assert headers["ce-type"] == "azure.webpubsub.sys.connect"
        assert headers["ce-source"] == f"/hubs/{HUB}/client/{cid}"
        assert headers["ce-id"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", headers["ce-time"])
        assert headers["ce-awpsversion"] == "1.0"
        assert headers["ce-hub"] == HUB
        assert headers["ce-connectionid"] == cid
        assert headers["ce-userid"] == "ce-user"
        assert headers["ce-eventname"] == "connect"
        assert headers["ce-signature"] == signature(cid)
        assert headers["webhook-request-origin"] == "127.0.0.1"
        assert headers["content-type"].startswith("application/json")
        body = connect.json()
        assert body["claims"]["sub"] == ["ce-user"]
        assert body["claims"]["role"] == ["webpubsub.joinLeaveGroup"]
        assert body["query"]["foo"] == ["bar"] and "access_token" not in body["query"]
        assert "authorization" not in {k.lower() for k in body["headers"]}
        assert body["subprotocols"] == [RELIABLE_V1]
        assert body["clientCertificates"] == []

        connected_event = await event_handler.next(cid, "connected")
        assert connected_event.headers["ce-type"] == "azure.webpubsub.sys.connected"
        assert connected_event.headers["ce-subprotocol"] == RELIABLE_V1
        assert connected_event.json() == {}
    finally:
        await client.close()
    disconnected = await event_handler.next(cid, "disconnected")
    assert disconnected.headers["ce-type"] == "azure.webpubsub.sys.disconnected"
    assert "closed the connection" in disconnected.json()["reason"]
    assert [c.event for c in event_handler.of(cid)] == ["connect", "connected", "disconnected"]


async def test_connect_answer_overrides_user_groups_roles_and_sets_state(pubsub: PubSub, event_handler: EventHandler) -> None:
    client, hello = await connected(client_url(pubsub, HUB, user_id="token-user", extra_query="&mode=override"))
    cid = hello["connectionId"]
    try:
        assert hello["userId"] == "override-user"
        async with aio_service(pubsub, HUB) as api:
            assert await api.user_exists("override-user")
            await api.send_to_group("override-group", {"joined": "by connect answer"})
        assert (await client.receive_until({"type": "message"}))["data"] == {"joined": "by connect answer"}
        ack = await client.request({"type": "sendToGroup", "group": "anywhere", "ackId": 1, "dataType": "text", "data": "x"})
        assert ack["success"] is True  # the role came from the connect answer
        connected_event = await event_handler.next(cid, "connected")
        assert base64.b64decode(connected_event.headers["ce-connectionstate"]) == b'{"from":"connect"}'
    finally:
        await client.close()


@pytest.mark.parametrize("mode, status", [("refuse401", 401), ("refuse403", 403)])
async def test_connect_refusal_refuses_the_handshake_with_its_status(
    pubsub: PubSub, event_handler: EventHandler, mode: str, status: int
) -> None:
    user = f"refused-{mode}"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(client_url(pubsub, HUB, user_id=user, extra_query=f"&mode={mode}"))
    assert refused.value.status == status
    await asyncio.sleep(0.2)
    events = [c.event for c in event_handler.calls if c.headers.get("ce-userid") == user]
    assert events == ["connect"]  # never connected, so never disconnected


async def test_user_events_reach_the_handler_as_sent_and_its_answers_come_back(
    pubsub: PubSub, event_handler: EventHandler
) -> None:
    client, hello = await connected(client_url(pubsub, HUB, user_id="eve"))
    cid = hello["connectionId"]
    try:
        sent = [
            ("json", {"q": [1, "two"]}, "application/json", b'{"q":[1,"two"]}'),
            ("text", "héllo", "text/plain", "héllo".encode()),
            ("binary", base64.b64encode(b"\x00\x01").decode(), "application/octet-stream", b"\x00\x01"),
        ]
        for ack_id, (data_type, data, content_type, body) in enumerate(sent, start=1):
            ack = await client.request({"type": "event", "event": "echo", "ackId": ack_id, "dataType": data_type, "data": data})
            assert ack == {"type": "ack", "ackId": ack_id, "success": True}
            call = event_handler.of(cid, "echo")[-1]
            assert call.headers["ce-type"] == "azure.webpubsub.user.echo"
            assert call.headers["content-type"].startswith(content_type)
            assert call.headers["ce-subprotocol"] == JSON_V1
            assert call.body == body
            reply = await client.receive_until({"type": "message"})
            assert reply == {"type": "message", "from": "server", "dataType": data_type, "data": data}

        answers = {
            "text": ("text", "pong"),
            "binary": ("binary", base64.b64encode(b"\x00\x01\xfe").decode()),
            "json": ("json", {"ok": True}),
        }
        for ack_id, (event, (data_type, data)) in enumerate(answers.items(), start=10):
            await client.request({"type": "event", "event": event, "ackId": ack_id, "dataType": "text", "data": "?"})
            reply = await client.receive_until({"type": "message"})
            assert (reply["dataType"], reply["data"]) == (data_type, data)

        assert (await client.request({"type": "event", "event": "nocontent", "ackId": 20, "data": 1}))["success"] is True
        failed = await client.request({"type": "event", "event": "fail", "ackId": 21, "data": 1})
        assert failed["success"] is False and failed["error"]["name"] == "InvocationFailed"
        await client.send_json({"type": "ping"})
        assert await client.receive_json() == {"type": "pong"}  # 204 and failures send no message
    finally:
        await client.close()


async def test_connection_state_set_by_the_handler_comes_back_on_later_events(
    pubsub: PubSub, event_handler: EventHandler
) -> None:
    client, hello = await connected(client_url(pubsub, HUB, user_id="counter"))
    cid = hello["connectionId"]
    try:
        for expected in (1, 2, 3):
            await client.request({"type": "event", "event": "count", "ackId": expected, "data": None})
            assert (await client.receive_until({"type": "message"}))["data"] == {"count": expected}
        states = [c.headers.get("ce-connectionstate") for c in event_handler.of(cid, "count")]
        assert states[0] is None
        assert [json.loads(base64.b64decode(s)) for s in states[1:]] == [{"count": 1}, {"count": 2}]
    finally:
        await client.close()
    disconnected = await event_handler.next(cid, "disconnected")
    assert json.loads(base64.b64decode(disconnected.headers["ce-connectionstate"])) == {"count": 3}


async def test_plain_client_frames_are_message_events_and_answers_return_as_frames(
    pubsub: PubSub, event_handler: EventHandler
) -> None:
    client = await RawClient.connect(client_url(pubsub, HUB, user_id="plain"), ())
    async with client:
        await client.ws.send_str("hello")
        reply = await client.receive()
        assert reply.type is aiohttp.WSMsgType.TEXT and reply.data == "echo:hello"
        await client.ws.send_bytes(b"abc")
        reply = await client.receive()
        assert reply.type is aiohttp.WSMsgType.BINARY and reply.data == b"cba"
        user = [c for c in event_handler.calls if c.headers.get("ce-userid") == "plain" and c.event == "message"]
        assert [c.headers["content-type"].split(";")[0] for c in user] == ["text/plain", "application/octet-stream"]
        assert "ce-subprotocol" not in user[0].headers
        assert user[0].headers["ce-type"] == "azure.webpubsub.user.message"


async def test_a_slow_handler_holds_up_only_its_own_connection(pubsub: PubSub, event_handler: EventHandler) -> None:
    slow, _ = await connected(client_url(pubsub, HUB, user_id="slow"))
    fast, _ = await connected(client_url(pubsub, HUB, user_id="fast"))
    EventHandler.slow_release.clear()
    try:
        await slow.send_json({"type": "event", "event": "slow", "ackId": 1, "data": None})
        await slow.send_json({"type": "event", "event": "nocontent", "ackId": 2, "data": None})
        # The slow handler is still held, yet the other connection is answered.
        ack = await fast.request({"type": "event", "event": "nocontent", "ackId": 1, "data": None})
        assert ack["success"] is True
        assert [c.event for c in event_handler.calls if c.headers.get("ce-userid") == "slow"].count("nocontent") == 0, \
            "a connection's second event must wait for its first"
        EventHandler.slow_release.set()
        first = await slow.receive_json(timeout=10)
        second = await slow.receive_json(timeout=10)
        assert (first["ackId"], second["ackId"]) == (1, 2)  # a connection's events stay in order
    finally:
        EventHandler.slow_release.set()
        await slow.close()
        await fast.close()


async def test_hub_settings_choose_which_events_go_upstream(pubsub: PubSub, event_handler: EventHandler) -> None:
    client, hello = await connected(client_url(pubsub, "notify", user_id="n"))
    cid = hello["connectionId"]
    try:
        await event_handler.next(cid, "connected")
        assert (await client.request({"type": "event", "event": "unrouted", "ackId": 1, "data": 1}))["success"] is True
        await client.request({"type": "event", "event": "echo", "ackId": 2, "dataType": "text", "data": "routed"})
        assert (await client.receive_until({"type": "message"}))["data"] == "routed"
        assert [c.event for c in event_handler.of(cid)] == ["connected", "echo"]  # no connect, no unrouted
    finally:
        await client.close()
    await event_handler.next(cid, "disconnected")


async def test_official_client_events_round_trip_and_rest_close_reason_goes_upstream(
    pubsub: PubSub, event_handler: EventHandler
) -> None:
    client, inbox = await official_client(client_url(pubsub, HUB, user_id="sdk"), reconnect_retry_total=0)
    cid = inbox.connection_id
    try:
        await client.send_event("echo", {"via": "sdk"}, WebPubSubDataType.JSON)
        await eventually(lambda: inbox.server, what="the handler's answer")
        assert inbox.server[0].data == {"via": "sdk"}
        async with aio_service(pubsub, HUB) as api:
            await api.close_connection(cid, reason="kicked by test")
        disconnected = await event_handler.next(cid, "disconnected")
        assert disconnected.json() == {"reason": "kicked by test"}
        # The client tries to recover, is told 1008, and gives up.
        await eventually(lambda: inbox.disconnected, what="the client to give up")
    finally:
        await client.close()


async def test_a_client_gone_before_the_handshake_ends_still_brings_disconnected(
    pubsub: PubSub, event_handler: EventHandler
) -> None:
    """The handler accepted `connect` and may have counted the connection: the service always
    follows an accepted `connect` with `disconnected`, even when no socket came of it."""
    url = client_url(pubsub, HUB, user_id="gone-early", extra_query="&mode=held")
    target = url.split("://", 1)[1].split("/", 1)[1]
    EventHandler.connect_release.clear()
    reader, writer = await asyncio.open_connection("127.0.0.1", pubsub.port)
    try:
        writer.write(
            f"GET /{target} HTTP/1.1\r\nHost: 127.0.0.1:{pubsub.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {JSON_V1}\r\n\r\n".encode()
        )
        await writer.drain()
        connect = await eventually(
            lambda: next((c for c in event_handler.calls if c.headers.get("ce-userid") == "gone-early"), None),
            what="the held connect event",
        )
        writer.transport.abort()  # the client is gone while the handler still decides
    finally:
        EventHandler.connect_release.set()
    disconnected = await event_handler.next(connect.connection_id, "disconnected")
    assert disconnected.json()["reason"]
    assert [c.event for c in event_handler.of(connect.connection_id)] == ["connect", "disconnected"]

"""The REST data plane, driven through `azure-messaging-webpubsubservice` (sync and aio)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice._operations._operations import (
    WebPubSubServiceClientOperationsMixin as GeneratedOperations,
)

from tests.localpubsub.helpers import (
    MAX_MESSAGE,
    PubSub,
    RawClient,
    aio_service,
    client_url,
    connected,
    service,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def new_hub() -> str:
    """A hub of its own per test, so no other test's connections answer."""
    return f"rest_{uuid.uuid4().hex[:10]}"


async def quiet(client: RawClient) -> None:
    """Nothing more is waiting for this client (a ping is answered only after earlier frames)."""
    await client.send_json({"type": "ping"})
    assert await client.receive_json() == {"type": "pong"}


async def message(client: RawClient) -> dict[str, Any]:
    return await client.receive_until({"type": "message"})


async def clients(pubsub: PubSub, hub: str, *users: str, **token: Any) -> list[RawClient]:
    opened = []
    for user in users:
        client, hello = await connected(client_url(pubsub, hub, user_id=user, **token))
        client.connection_id = hello["connectionId"]  # type: ignore[attr-defined]
        opened.append(client)
    return opened


async def close_all(*opened: RawClient) -> None:
    for client in opened:
        await client.close()


async def test_send_to_all_in_every_content_type_with_excluded_and_filter(pubsub: PubSub) -> None:
    hub = new_hub()
    a, b, c = await clients(pubsub, hub, "ann", "ben", "cat")
    try:
        async with aio_service(pubsub, hub) as api:
            await api.send_to_all({"to": "all"}, excluded=[a.connection_id])
            for client in (b, c):
                assert await message(client) == {"type": "message", "from": "server", "dataType": "json", "data": {"to": "all"}}
            await quiet(a)

            await api.send_to_all("only cat", content_type="text/plain", filter="userId eq 'cat'")
            assert (await message(c))["data"] == "only cat"
            await quiet(a)
            await quiet(b)

            await api.send_to_all(b"\x01\x02", content_type="application/octet-stream")
            for client in (a, b, c):
                got = await message(client)
                assert got["dataType"] == "binary" and got["data"] == "AQI="
    finally:
        await close_all(a, b, c)


async def test_send_to_group_user_and_connection_with_the_sync_client(pubsub: PubSub) -> None:
    hub = new_hub()
    a, b, c = await clients(pubsub, hub, "ann", "ann", "ben", groups=["room"])
    api = service(pubsub, hub)
    try:
        await asyncio.to_thread(api.send_to_group, "room", {"n": 1}, excluded=[b.connection_id])
        assert (await message(a))["data"] == {"n": 1}
        assert (await message(c))["data"] == {"n": 1}
        await quiet(b)

        await asyncio.to_thread(api.send_to_group, "room", "filtered", content_type="text/plain", filter="userId ne 'ann'")
        assert (await message(c))["data"] == "filtered"
        await quiet(a)

        await asyncio.to_thread(api.send_to_user, "ann", {"for": "ann"})
        assert (await message(a))["data"] == {"for": "ann"}
        assert (await message(b))["data"] == {"for": "ann"}
        await quiet(c)

        await asyncio.to_thread(api.send_to_connection, b.connection_id, "just b", content_type="text/plain")
        assert (await message(b))["data"] == "just b"
        await quiet(a)
        # Sending to nobody is still accepted, as the service does.
        await asyncio.to_thread(api.send_to_connection, "no-such-connection", {"x": 1})
        await asyncio.to_thread(api.send_to_user, "nobody", {"x": 1})
    finally:
        await close_all(a, b, c)


async def test_filters_select_connections_by_user_connection_and_groups(pubsub: PubSub) -> None:
    hub = new_hub()
    admin, alice, bob = await clients(pubsub, hub, "admin-1", "alice", "bob")
    anonymous, hello = await connected(client_url(pubsub, hub))
    try:
        async with aio_service(pubsub, hub) as api:
            await api.add_connection_to_group("g1", alice.connection_id)
            await api.add_connection_to_group("g1", bob.connection_id)
            cases = {
                "'g1' in groups and not (userId in ('alice', 'x'))": [bob],
                "startswith(userId, 'adm') or userId eq null": [admin, anonymous],
                f"connectionId eq '{alice.connection_id}'": [alice],
                "length(groups) gt 0 and toupper(userId) eq 'ALICE'": [alice],
                "userId eq 'o''brien'": [],
            }
            everyone = (admin, alice, bob, anonymous)
            for number, (expression, chosen) in enumerate(cases.items()):
                await api.send_to_all({"case": number}, filter=expression)
                for client in everyone:
                    if client in chosen:
                        assert (await message(client))["data"] == {"case": number}, expression
                    else:
                        await quiet(client)
            with pytest.raises(HttpResponseError) as bad:
                await api.send_to_all({"x": 1}, filter="userId eq")
            assert bad.value.status_code == 400
            with pytest.raises(HttpResponseError) as untyped:
                await api.send_to_all({"x": 1}, filter="not length(userId) gt 5")
            assert untyped.value.status_code == 400
    finally:
        await close_all(admin, alice, bob, anonymous)


async def test_connections_and_users_join_and_leave_groups(pubsub: PubSub) -> None:
    hub = new_hub()
    first, second, other = await clients(pubsub, hub, "uma", "uma", "vic")
    try:
        async with aio_service(pubsub, hub) as api:
            assert not await api.group_exists("team")
            await api.add_connection_to_group("team", other.connection_id)
            assert await api.group_exists("team")

            await api.add_user_to_group("team", "uma")
            await api.send_to_group("team", {"hi": "team"})
            for client in (first, second, other):
                assert (await message(client))["data"] == {"hi": "team"}

            # A user's group membership holds for the user's later connections too.
            late, _ = await connected(client_url(pubsub, hub, user_id="uma"))
            try:
                await api.send_to_group("team", {"hi": "again"})
                assert (await message(late))["data"] == {"hi": "again"}
            finally:
                await late.close()
            for client in (first, second, other):
                await message(client)

            await api.remove_user_from_group("team", "uma")
            await api.send_to_group("team", {"only": "vic"})
            assert (await message(other))["data"] == {"only": "vic"}
            await quiet(first)

            await api.remove_connection_from_group("team", other.connection_id)
            assert not await api.group_exists("team")

            await api.add_connection_to_group("a", first.connection_id)
            await api.add_connection_to_group("b", first.connection_id)
            await api.remove_connection_from_all_groups(first.connection_id)
            assert not await api.group_exists("a") and not await api.group_exists("b")

            await api.add_user_to_group("c", "vic")
            await api.add_user_to_group("d", "vic")
            await api.remove_user_from_all_groups("vic")
            assert not await api.group_exists("c") and not await api.group_exists("d")

            with pytest.raises(ResourceNotFoundError):
                await api.add_connection_to_group("team", "no-such-connection")
    finally:
        await close_all(first, second, other)


async def test_filtered_add_to_groups_and_remove_from_groups(pubsub: PubSub) -> None:
    hub = new_hub()
    a, b, c = await clients(pubsub, hub, "ann", "ben", "cat")
    api = service(pubsub, hub)
    try:
        def call(operation: str, body: dict[str, Any]) -> int:
            request = HttpRequest("POST", f"/api/hubs/{hub}/:{operation}", params={"api-version": "2024-12-01"}, json=body)
            return api.send_request(request).status_code

        assert await asyncio.to_thread(call, "addToGroups", {"groups": ["x", "y"], "filter": "userId ne 'cat'"}) == 200
        members = sorted(m.user_id for m in await asyncio.to_thread(lambda: list(api.list_connections(group="y"))))
        assert members == ["ann", "ben"]
        assert await asyncio.to_thread(call, "removeFromGroups", {"groups": ["x"], "filter": "userId eq 'ann'"}) == 200
        members = sorted(m.user_id for m in await asyncio.to_thread(lambda: list(api.list_connections(group="x"))))
        assert members == ["ben"]
        assert await asyncio.to_thread(call, "addToGroups", {"groups": ["z"]}) == 200  # no filter: everyone
        assert len(await asyncio.to_thread(lambda: list(api.list_connections(group="z")))) == 3
        assert await asyncio.to_thread(call, "addToGroups", {"groups": [], "filter": "true"}) == 400
        assert await asyncio.to_thread(call, "addToGroups", {"groups": ["q"], "filter": "userId eq"}) == 400
    finally:
        await close_all(a, b, c)


async def test_listing_group_members_pages_through_every_connection(pubsub: PubSub) -> None:
    hub = new_hub()
    members = await clients(pubsub, hub, *[f"user{i}" for i in range(7)], groups=["big"])
    api = service(pubsub, hub)
    try:
        pages = await asyncio.to_thread(lambda: [list(p) for p in api.list_connections(group="big", maxpagesize=3).by_page()])
        assert [len(p) for p in pages] == [3, 3, 1]
        listed = sorted(m.connection_id for page in pages for m in page)
        assert listed == sorted(c.connection_id for c in members)
        top = await asyncio.to_thread(lambda: list(api.list_connections(group="big", top=4, maxpagesize=3)))
        assert len(top) == 4
        assert await asyncio.to_thread(lambda: list(api.list_connections(group="empty"))) == []
    finally:
        await close_all(*members)


async def test_closing_connections_tells_clients_why(pubsub: PubSub) -> None:
    hub = new_hub()
    one, two, three, four = await clients(pubsub, hub, "ann", "ben", "ben", "cat", groups=["g"])
    try:
        async with aio_service(pubsub, hub) as api:
            await api.close_connection(one.connection_id, reason="bye ann")
            assert await one.receive_json() == {"type": "system", "event": "disconnected", "message": "bye ann"}
            assert await one.expect_closed() == 1000
            assert not await api.connection_exists(one.connection_id)

            await api.close_user_connections("ben", excluded=[three.connection_id], reason="one of two")
            assert (await two.receive_json())["message"] == "one of two"
            await quiet(three)

            await api.close_group_connections("g", excluded=[four.connection_id], reason="group closed")
            assert (await three.receive_json())["message"] == "group closed"
            await quiet(four)

            await api.close_all_connections(reason="closing time")
            assert (await four.receive_json())["message"] == "closing time"
            assert await four.expect_closed() == 1000
            for _ in range(100):
                if not await api.user_exists("cat"):
                    break
                await asyncio.sleep(0.02)
            assert not await api.user_exists("cat")
    finally:
        await close_all(one, two, three, four)


async def test_permissions_are_granted_checked_and_revoked(pubsub: PubSub) -> None:
    hub = new_hub()
    (client,) = await clients(pubsub, hub, "perm")
    cid = client.connection_id
    try:
        async with aio_service(pubsub, hub) as api:
            join = {"type": "joinGroup", "group": "stage", "ackId": 1}
            assert (await client.request(join))["error"]["name"] == "Forbidden"
            assert not await api.has_permission("joinLeaveGroup", cid, target_name="stage")

            await api.grant_permission("joinLeaveGroup", cid, target_name="stage")
            assert await api.has_permission("joinLeaveGroup", cid, target_name="stage")
            assert not await api.has_permission("joinLeaveGroup", cid, target_name="backstage")
            assert (await client.request(join))["success"] is True

            await api.grant_permission("sendToGroup", cid)
            assert await api.has_permission("sendToGroup", cid, target_name="anything")
            await api.revoke_permission("sendToGroup", cid)
            assert not await api.has_permission("sendToGroup", cid)

            await api.revoke_permission("joinLeaveGroup", cid, target_name="stage")
            again = {"type": "leaveGroup", "group": "stage", "ackId": 2}
            assert (await client.request(again))["error"]["name"] == "Forbidden"
            with pytest.raises(ResourceNotFoundError):
                await api.grant_permission("sendToGroup", "no-such-connection")
            assert not await api.has_permission("sendToGroup", "no-such-connection")
            with pytest.raises(HttpResponseError) as bad:
                await api.grant_permission("teleport", cid)
            assert bad.value.status_code == 400
    finally:
        await client.close()


async def test_generate_token_endpoint_honours_user_roles_groups_and_lifetime(pubsub: PubSub) -> None:
    hub = new_hub()
    api = service(pubsub, hub)
    answer = await asyncio.to_thread(
        GeneratedOperations.get_client_access_token,
        api, user_id="minted", roles=["webpubsub.sendToGroup.lobby"], groups=["lobby"], minutes_to_expire=5,
    )
    claims = jwt.decode(answer["token"], pubsub.access_key, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["sub"] == "minted" and claims["webpubsub.group"] == ["lobby"]
    assert 4 * 60 < claims["exp"] - time.time() <= 5 * 60
    client, hello = await connected(f"{pubsub.ws_url(hub)}?access_token={answer['token']}")
    try:
        assert hello["userId"] == "minted"
        ack = await client.request({"type": "sendToGroup", "group": "lobby", "ackId": 1, "dataType": "text", "data": "hi"})
        assert ack["success"] is True
        assert (await message(client))["data"] == "hi"  # joined lobby through the token
    finally:
        await client.close()


async def test_requests_signed_wrongly_expired_or_for_another_url_get_401(pubsub: PubSub) -> None:
    hub = new_hub()
    wrong_key = aio_service(pubsub, hub)
    wrong_key._config.credential.update("d3Jvbmcta2V5LXRoYXQtaXMtbG9uZy1lbm91Z2gtZm9yLWhzMjU2")
    async with wrong_key as api:
        with pytest.raises(ClientAuthenticationError):
            await api.send_to_all({"x": 1})

    path = f"/api/hubs/{hub}/:send?api-version=2024-12-01"
    url = f"{pubsub.endpoint}{path}"

    def token(aud: str, exp_in: int) -> str:
        return jwt.encode({"aud": aud, "exp": int(time.time()) + exp_in}, pubsub.access_key, algorithm="HS256")

    async with aiohttp.ClientSession() as http:
        async def status(bearer: str | None, target: str = url) -> int:
            headers = {"Content-Type": "application/json"}
            if bearer:
                headers["Authorization"] = f"Bearer {bearer}"
            async with http.post(target, data=b"{}", headers=headers) as response:
                return response.status

        assert await status(token(url, 60)) == 202
        assert await status(token(url.replace("127.0.0.1", "LOCALHOST"), 60)) == 202
        assert await status(token(url, -10)) == 401
        assert await status(token(url.replace(":send", ":closeConnections"), 60)) == 401
        assert await status(None) == 401
        no_version = f"{pubsub.endpoint}/api/hubs/{hub}/:send"
        assert await status(token(no_version, 60), no_version) == 400


async def test_bodies_too_large_or_of_unknown_type_are_refused(pubsub: PubSub) -> None:
    hub = new_hub()
    api = service(pubsub, hub)

    def send(body: bytes, content_type: str) -> int:
        request = HttpRequest(
            "POST", f"/api/hubs/{hub}/:send", params={"api-version": "2024-12-01"},
            content=body, headers={"Content-Type": content_type},
        )
        return api.send_request(request).status_code

    assert await asyncio.to_thread(send, b"x" * MAX_MESSAGE, "text/plain") == 202
    assert await asyncio.to_thread(send, b"x" * (MAX_MESSAGE + 1), "text/plain") == 413
    assert await asyncio.to_thread(send, b"<a/>", "application/xml") == 415
    assert await asyncio.to_thread(send, b"{not json", "application/json") == 400


async def test_health_answers_head_and_get(pubsub: PubSub) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.head(f"{pubsub.endpoint}/api/health") as response:
            assert response.status == 200
        async with http.get(f"{pubsub.endpoint}/api/health") as response:
            assert response.status == 200 and (await response.json())["status"] == "ok"

"""A student's own connection outside any class: their courses' announcements reach it,
and it cannot act in a class it never joined."""

from __future__ import annotations

import aiohttp
import pytest

from shared_code.settings import Settings
from tests.support.content import enrol, published_course, upload_material
from tests.support.live import close_all, connect_personal, connect_refusal, new_session

pytestmark = pytest.mark.timeout(60)


async def test_an_enrolled_students_own_connection_receives_material_published(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    async with aiohttp.ClientSession() as session:
        socket = await connect_personal(api, session, student)
        try:
            material = await upload_material(
                api, tutor, course["id"], b"%PDF-1.4 notes", file_name="notes.pdf", content_type="application/pdf"
            )
            published = await api.post(f"materials/{material['materialId']}/publish", headers=tutor.headers)
            assert published.status_code == 200, published.text
            pushed = await socket.wait_for(lambda m: m.get("type") == "material.published")
            assert pushed["materialId"] == material["materialId"]
        finally:
            await socket.close()


async def test_a_personal_connection_cannot_chat_in_any_class(api, actor):
    student = await actor("student")
    async with aiohttp.ClientSession() as session:
        socket = await connect_personal(api, session, student)
        try:
            ack = await socket.send("chat", {"text": "hello?"})
            assert ack.ok is False and ack.reason == "no-class", ack.body
        finally:
            await socket.close()


async def test_personal_negotiate_needs_a_token(api):
    resp = await api.post("me/negotiate")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_a_sixth_personal_connection_is_refused_with_the_reason_and_a_closed_one_frees_its_place(api, actor):
    student = await actor("student")
    cap = Settings().live_max_connections_per_user
    session = new_session()
    sockets = []
    try:
        sockets = [await connect_personal(api, session, student) for _ in range(cap)]
        one_more = await api.post("me/negotiate", headers=student.headers)
        assert one_more.status_code == 200
        status, reason = await connect_refusal(session, one_more.json()["url"])
        assert status == 429 and f"already have {cap} connections open" in reason
        # The open ones still receive their pushes: the first is still there for the server.
        assert not sockets[0].closed_reason
        # Closing one frees its place: nothing tells the app, so the refused connect asks
        # Web PubSub which of the counted connections still exist.
        await sockets.pop().close()
        sockets.append(await connect_personal(api, session, student))
    finally:
        await close_all(sockets)
        await session.close()

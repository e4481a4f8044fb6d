"""Who gets into a live class: signed event-handler calls only, enrolled students, not the
removed, not after the end; and who may run it."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest

from shared_code.adapters.webpubsub import parse_connection_string
from tests.support.content import eventually
from tests.support.live import LiveClient, close_all, enrolled_students, join, live_class, negotiate, new_session


def _with_class(url: str, class_id: str) -> str:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    query["classId"] = [class_id]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


async def _refused(session: aiohttp.ClientSession, who, class_id: str, url: str) -> None:
    client = LiveClient(who=who, class_id=class_id, session=session)
    with pytest.raises((aiohttp.WSServerHandshakeError, ConnectionError)):
        await client.connect(url, timeout=10)
    await client.close()


def _signature(stack, connection_id: str) -> str:
    key = parse_connection_string(stack.pubsub_connection_string)["accesskey"]
    return "sha256=" + hmac.new(key.encode(), connection_id.encode(), hashlib.sha256).hexdigest()


async def test_unsigned_or_wrongly_signed_event_handler_calls_are_refused(api, stack):
    headers = {
        "ce-specversion": "1.0", "ce-type": "azure.webpubsub.sys.connected", "ce-connectionId": "c-123",
        "ce-userId": str(uuid.uuid4()), "ce-hub": "live", "ce-eventName": "connected",
    }
    unsigned = await api.post("webpubsub/events", json={}, headers=headers)
    assert unsigned.status_code == 401
    wrong = await api.post("webpubsub/events", json={}, headers={**headers, "ce-signature": "sha256=" + "0" * 64})
    assert wrong.status_code == 401
    other_connection = await api.post(
        "webpubsub/events", json={}, headers={**headers, "ce-signature": _signature(stack, "c-999")}
    )
    assert other_connection.status_code == 401
    signed = await api.post("webpubsub/events", json={}, headers={**headers, "ce-signature": _signature(stack, "c-123")})
    assert signed.status_code == 204


async def test_the_abuse_protection_handshake_answers_only_its_own_service(api):
    ours = await api.request("OPTIONS", "webpubsub/events", headers={"WebHook-Request-Origin": "127.0.0.1"})
    assert ours.status_code == 200 and ours.headers["WebHook-Allowed-Origin"] == "127.0.0.1"
    theirs = await api.request("OPTIONS", "webpubsub/events", headers={"WebHook-Request-Origin": "evil.example"})
    assert theirs.status_code == 401 and "WebHook-Allowed-Origin" not in theirs.headers


async def test_a_student_of_another_course_is_refused_at_negotiate_and_at_connect(api, actor):
    tutor, other_tutor = await actor("tutor"), await actor("tutor")
    _, klass = await live_class(api, tutor)
    other_course, other_class = await live_class(api, other_tutor)
    [outsider] = await enrolled_students(api, actor, other_course["id"], 1)

    refused = await negotiate(api, outsider, klass["id"])
    assert refused.status_code == 403

    # A token negotiated for the outsider's own class, pointed at this class: connect checks again.
    own = await negotiate(api, outsider, other_class["id"])
    assert own.status_code == 200
    session = new_session()
    try:
        await _refused(session, outsider, klass["id"], _with_class(own.json()["url"], klass["id"]))
        # The same token still opens the outsider's own class.
        mine = LiveClient(who=outsider, class_id=other_class["id"], session=session)
        await mine.connect(own.json()["url"])
        await mine.close()
    finally:
        await session.close()


async def test_a_removed_student_is_disconnected_and_cannot_rejoin(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    course, klass = await live_class(api, tutor)
    troublemaker, witness = await enrolled_students(api, actor, course["id"], 2)
    session = new_session()
    try:
        spare = await negotiate(api, troublemaker, klass["id"])
        assert spare.status_code == 200
        victim = await join(api, session, troublemaker, klass["id"])
        watcher = await join(api, session, witness, klass["id"])
        removed = await api.post(
            f"classes/{klass['id']}/moderation", json={"action": "remove", "userId": troublemaker.user_id},
            headers=tutor.headers,
        )
        assert removed.status_code == 200, removed.text
        notice = await watcher.wait_for(lambda m: m["type"] == "moderation.removed")
        assert notice["userId"] == troublemaker.user_id
        await victim.wait_closed(timeout=10)

        assert (await negotiate(api, troublemaker, klass["id"])).status_code == 403
        await _refused(session, troublemaker, klass["id"], spare.json()["url"])
        assert (await api.get(f"classes/{klass['id']}/state", headers=troublemaker.headers)).status_code == 403
        # Other students carry on.
        assert (await watcher.send("chat", {"text": "still here"})).ok

        async def audited():
            resp = await api.get("admin/audit", params={"action": "class.moderation.remove"}, headers=admin.headers)
            rows = [r for r in resp.json()["items"] if r["target"] == f"class:{klass['id']}"]
            return rows or None

        [row] = await eventually(audited)
        assert row["actorId"] == tutor.user_id and row["details"]["userId"] == troublemaker.user_id
        await close_all([victim, watcher])
    finally:
        await session.close()


async def test_nobody_joins_an_ended_class(api, actor):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    [student] = await enrolled_students(api, actor, course["id"], 1)
    early = await negotiate(api, student, klass["id"])
    assert early.status_code == 200
    ended = await api.post(f"classes/{klass['id']}/end", headers=tutor.headers)
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    late = await negotiate(api, student, klass["id"])
    assert late.status_code == 422
    session = new_session()
    try:
        await _refused(session, student, klass["id"], early.json()["url"])
    finally:
        await session.close()
    restart = await api.post(f"classes/{klass['id']}/start", headers=tutor.headers)
    assert restart.status_code == 422


async def test_who_may_run_a_class(api, actor):
    tutor, other_tutor, admin = await actor("tutor"), await actor("tutor"), await actor("admin")
    course, klass = await live_class(api, tutor, started=False)
    [student] = await enrolled_students(api, actor, course["id"], 1)
    class_id = klass["id"]

    assert (await api.post("classes", json={"courseId": course["id"], "title": "x", "scheduledAt": "2026-01-01T10:00:00Z"},
                           headers=other_tutor.headers)).status_code == 403
    assert (await api.post("classes", json={"courseId": course["id"], "title": "x", "scheduledAt": "2026-01-01T10:00:00"},
                           headers=tutor.headers)).status_code == 400
    by_admin = await api.post("classes", json={"courseId": course["id"], "title": "x", "scheduledAt": "2026-01-01T10:00:00Z"},
                              headers=admin.headers)
    assert by_admin.status_code == 201 and by_admin.json()["tutorId"] == tutor.user_id
    assert (await api.post(f"classes/{class_id}/start", headers=student.headers)).status_code == 403
    assert (await api.post(f"classes/{class_id}/start", headers=other_tutor.headers)).status_code == 403
    started = await api.post(f"classes/{class_id}/start", headers=tutor.headers)
    assert started.status_code == 200 and started.json()["status"] == "live" and started.json()["startedAt"]
    assert (await api.post(f"classes/{class_id}/polls", json={"question": "?", "options": ["a", "b"]},
                           headers=student.headers)).status_code == 403
    assert (await api.post(f"classes/{class_id}/moderation", json={"action": "mute", "userId": student.user_id},
                           headers=student.headers)).status_code == 403
    assert (await api.post(f"classes/{class_id}/moderation", json={"action": "mute", "userId": student.user_id},
                           headers=admin.headers)).status_code == 200
    assert (await api.get(f"classes/{class_id}/attendance", headers=student.headers)).status_code == 403
    assert (await api.get(f"classes/{uuid.uuid4()}/state", headers=student.headers)).status_code == 404
    assert (await api.get("classes/not-a-uuid/state", headers=student.headers)).status_code == 404
    assert (await api.post(f"classes/{class_id}/negotiate")).status_code == 401
    listed = await api.get("classes", params={"courseId": course["id"]}, headers=student.headers)
    assert listed.status_code == 200 and {c["id"] for c in listed.json()["items"]} == {class_id, by_admin.json()["id"]}


async def test_the_live_page_is_served(api):
    resp = await api.get("live/app")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    # Its script is the bundle beside it (tests/e2e/test_demo_page.py), never inline.
    assert '<script type="module" src="app.js"></script>' in resp.text
    assert "script-src 'self';" in resp.headers["content-security-policy"]


"""What one account cannot do to a live class: hold more connections than its share, pass a
connection state the server did not issue, or break the event handler with hostile input.
Everything runs through real WebSockets, the local Web PubSub service and the real host."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.adapters.redis import live_admission as admission_redis
from shared_code.adapters.redis import live_presence as presence_redis
from shared_code.adapters.webpubsub import parse_connection_string
from shared_code.services.live.class_access import Member
from shared_code.services.live.connection_state import encode_state, state_key
from shared_code.settings import Settings
from tests.support.live import (
    close_all,
    connect_refusal,
    enrolled_students,
    join,
    live_class,
    negotiate,
    new_session,
)


@pytest.fixture
def settings(stack) -> Settings:
    return Settings()


@pytest.fixture
async def redis(stack):
    client = aioredis.from_url(stack.redis_url, decode_responses=True)
    yield client
    await client.aclose()


def _signature(stack, connection_id: str) -> str:
    key = parse_connection_string(stack.pubsub_connection_string)["accesskey"]
    return "sha256=" + hmac.new(key.encode(), connection_id.encode(), hashlib.sha256).hexdigest()


def _event_headers(stack, ce_type: str, connection_id: str, user_id: str, event_name: str) -> dict[str, str]:
    return {
        "ce-specversion": "1.0", "ce-type": ce_type, "ce-connectionId": connection_id, "ce-userId": user_id,
        "ce-hub": "live", "ce-eventName": event_name, "ce-signature": _signature(stack, connection_id),
    }


async def _fill(redis, class_id: str, count: int, *, cap: int, age_ms: int) -> list[str]:
    """Connections counted against the class that Web PubSub does not have, admitted
    `age_ms` ago: what lost `disconnected` events leave behind."""
    at = int(time.time() * 1000) - age_ms
    ids = [f"lost-{uuid.uuid4().hex}" for _ in range(count)]
    for start in range(0, count, 100):
        results = await asyncio.gather(*(
            admission_redis.admit(redis, class_id, f"user-{c}", c, per_user=1, per_class=cap, now_ms=at)
            for c in ids[start:start + 100]
        ))
        assert all(r.admitted for r in results)
    return ids


async def _joins_eventually(api, session, who, class_id: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await join(api, session, who, class_id)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


# --- connection caps ------------------------------------------------------------------------------
async def test_a_sixth_connection_of_one_student_is_refused_with_the_reason_and_the_first_five_still_work(
    api, actor, settings
):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    [student] = await enrolled_students(api, actor, course["id"], 1)
    cap = settings.live_max_connections_per_user
    assert cap == 5
    session = new_session()
    try:
        teacher = await join(api, session, tutor, klass["id"])
        tabs = [await join(api, session, student, klass["id"]) for _ in range(cap)]

        one_more = await negotiate(api, student, klass["id"])
        assert one_more.status_code == 200
        status, reason = await connect_refusal(session, one_more.json()["url"])
        assert status == 429
        assert f"already have {cap} connections to this class" in reason

        # The five open ones carry on: each receives the class's chat, and one of them talks.
        assert (await teacher.send("chat", {"text": "everyone there?"})).ok
        for tab in tabs:
            await tab.wait_for(lambda m: m["type"] == "chat.message" and m["text"] == "everyone there?")
        assert (await tabs[0].send("chat", {"text": "yes"})).ok
        await teacher.wait_for(lambda m: m["type"] == "chat.message" and m["text"] == "yes")

        # Closing a tab frees its place once the service reports it gone.
        await tabs.pop().close()
        tabs.append(await _joins_eventually(api, session, student, klass["id"]))
        # Other students are not counted against this one.
        [classmate] = await enrolled_students(api, actor, course["id"], 1)
        tabs.append(await join(api, session, classmate, klass["id"]))
        await close_all([teacher, *tabs])
    finally:
        await session.close()


async def test_a_full_class_refuses_the_next_connection_with_the_reason(api, actor, settings, redis):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    first, second = await enrolled_students(api, actor, course["id"], 2)
    cap = settings.live_max_connections_per_class
    # Everyone but one place is taken by connections that just arrived.
    await _fill(redis, klass["id"], cap - 1, cap=cap, age_ms=0)
    session = new_session()
    try:
        last_in = await join(api, session, first, klass["id"])
        url = (await negotiate(api, second, klass["id"])).json()["url"]
        status, reason = await connect_refusal(session, url)
        assert status == 429 and f"This class is full: it already has {cap} connections" in reason
        # The one who got the last place is in the class.
        assert (await last_in.send("chat", {"text": "made it"})).ok
        await last_in.wait_for(lambda m: m["type"] == "chat.message" and m["text"] == "made it")
        # A place frees when a connection leaves.
        await last_in.close()
        late = await _joins_eventually(api, session, second, klass["id"])
        await late.close()
    finally:
        await session.close()


async def test_connections_whose_disconnected_event_was_lost_stop_counting(api, actor, settings, redis):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    [student] = await enrolled_students(api, actor, course["id"], 1)
    # The class looks full, and the student looks like they hold five tabs, but Web PubSub
    # has none of those connections any more.
    cap = settings.live_max_connections_per_class
    await _fill(redis, klass["id"], cap, cap=cap, age_ms=120_000)
    before = int(time.time() * 1000) - 120_000
    for n in range(settings.live_max_connections_per_user):
        assert (await admission_redis.admit(redis, klass["id"], student.user_id, f"lost-tab-{n}", per_user=cap,
                                            per_class=cap + 10, now_ms=before)).admitted
        await presence_redis.join(redis, klass["id"], f"lost-tab-{n}", student.user_id, "Lost tab")
    session = new_session()
    try:
        client = await join(api, session, student, klass["id"])
        assert (await client.send("chat", {"text": "back again"})).ok
        # The lost tabs left the presence too: the student is present through one connection.
        assert await redis.hget(keys.live_present(klass["id"]), student.user_id) == "1"
        await client.close()
    finally:
        await session.close()


async def test_a_connection_whose_connect_answer_was_lost_leaves_with_the_users_last_real_tab(api, actor, redis):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    [student] = await enrolled_students(api, actor, course["id"], 1)
    # Two minutes ago the handler admitted a connect whose answer Web PubSub never got: the
    # service never had that connection and will send no `disconnected` for it, yet it is
    # counted and present.
    ghost = f"lost-{uuid.uuid4().hex}"
    two_minutes_ago = int(time.time() * 1000) - 120_000
    assert (await admission_redis.admit(redis, klass["id"], student.user_id, ghost, per_user=5, per_class=100,
                                        now_ms=two_minutes_ago)).admitted
    await presence_redis.join(redis, klass["id"], ghost, student.user_id, "Ghost")
    session = new_session()
    try:
        teacher = await join(api, session, tutor, klass["id"])
        tab = await join(api, session, student, klass["id"])
        # The student's one real tab closes: they have left, and the class hears so.
        await tab.close()
        await teacher.wait_for(lambda m: m["type"] == "presence.updated" and m["count"] == 1)
        assert student.user_id not in await redis.hgetall(keys.live_present(klass["id"]))
        assert await redis.zrange(keys.live_admitted_user(klass["id"], student.user_id), 0, -1) == []
        await teacher.close()
    finally:
        await session.close()


# --- connection state -------------------------------------------------------------------------
async def test_a_connect_event_carrying_a_connection_state_is_refused(api, stack, actor):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    [student] = await enrolled_students(api, actor, course["id"], 1)
    connection_id = f"forged-{uuid.uuid4().hex}"
    forged = base64.b64encode(json.dumps({"classId": klass["id"], "role": "tutor"}).encode()).decode()
    headers = _event_headers(stack, "azure.webpubsub.sys.connect", connection_id, student.user_id, "connect")
    body = {"claims": {}, "query": {"classId": [klass["id"]]}, "headers": {}, "subprotocols": []}
    refused = await api.post("webpubsub/events", json=body, headers={**headers, "ce-connectionState": forged})
    assert refused.status_code == 400 and "carries no connection state" in refused.text
    accepted = await api.post("webpubsub/events", json=body, headers=headers)
    assert accepted.status_code == 200 and accepted.headers.get("ce-connectionState")


async def test_a_client_event_with_a_tampered_connection_state_is_refused(api, stack, actor, settings):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    [student] = await enrolled_students(api, actor, course["id"], 1)
    session = new_session()
    try:
        watcher = await join(api, session, tutor, klass["id"])
        connection_id = f"forged-{uuid.uuid4().hex}"
        member = Member(connection_id=connection_id, user_id=student.user_id, class_id=klass["id"],
                        course_id=course["id"], role="student", name=student.name)
        signed = encode_state(member, state_key(settings))
        wrapped = json.loads(base64.b64decode(signed))
        wrapped["p"] = wrapped["p"].replace('"role":"student"', '"role":"tutor"')
        forgeries = {
            "unsigned, as states used to be": base64.b64encode(json.dumps(
                {"classId": klass["id"], "courseId": course["id"], "role": "tutor", "name": "Mallory"}).encode()).decode(),
            "role raised after signing": base64.b64encode(json.dumps(wrapped).encode()).decode(),
            "signed with another key": encode_state(member, b"not-the-server-key-not-the-server-key"),
            "issued to another connection": encode_state(
                Member(**{**member.__dict__, "connection_id": "another"}), state_key(settings)),
        }
        headers = _event_headers(stack, "azure.webpubsub.user.chat", connection_id, student.user_id, "chat")
        for what, state in forgeries.items():
            resp = await api.post("webpubsub/events", json={"text": f"forged: {what}"},
                                  headers={**headers, "ce-connectionState": state})
            assert resp.status_code == 200, what
            ack = resp.json()
            assert ack["type"] == "ack" and ack["ok"] is False and ack["reason"] == "invalid-state", (what, ack)
        # The genuine state the server signed for that connection works: only forgeries fail.
        genuine = await api.post("webpubsub/events", json={"text": "genuine"},
                                 headers={**headers, "ce-connectionState": signed})
        assert genuine.status_code == 200 and genuine.json()["ok"] is True, genuine.text
        await watcher.wait_for(lambda m: m["type"] == "chat.message" and m["text"] == "genuine")
        assert not [m for m in watcher.of_type("chat.message") if m["text"].startswith("forged")]
        await watcher.close()
    finally:
        await session.close()


# --- hostile input --------------------------------------------------------------------------------
async def test_a_non_ascii_signature_header_gets_400_problem_json(api, stack):
    headers = _event_headers(stack, "azure.webpubsub.sys.connected", "c-1", str(uuid.uuid4()), "connected")
    headers = {k: v.encode() for k, v in headers.items()}
    headers["ce-signature"] = "sha256=ünïcødé".encode()
    resp = await api.post("webpubsub/events", content=b"{}", headers=headers)
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "ce-signature" in resp.json()["detail"]
    latin = {**headers, "ce-signature": "sha256=\xe9".encode("latin-1")}
    resp = await api.post("webpubsub/events", content=b"{}", headers=latin)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("application/problem+json")


async def test_hostile_frames_are_refused_with_a_reason_and_the_connection_and_class_go_on(api, actor):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    [student] = await enrolled_students(api, actor, course["id"], 1)
    session = new_session()
    try:
        teacher = await join(api, session, tutor, klass["id"])
        client = await join(api, session, student, klass["id"])
        deep = "[" * 100_000 + "]" * 100_000
        hostile = [
            ("chat", "text", deep, "too-deep"),
            ("chat", "json", {"text": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}, "too-deep"),
            ("chat", "text", json.dumps({"text": "x" * 100_000}), "too-large"),
            ("chat", "binary", base64.b64encode(b'{"text": "\xff\xfe"}').decode(), "invalid"),
            ("chat", "json", {"text": 12345}, "invalid"),
            ("chat", "json", ["not", "an", "object"], "invalid"),
            ("vote", "json", {"pollId": {"$ne": None}, "option": "zero"}, "invalid"),
            ("becomeTutor", "json", {"please": True}, "unknown-event"),
        ]
        for event, data_type, data, reason in hostile:
            ack = await client.send_frame(event, data_type, data)
            assert ack.ok is False and ack.reason == reason, (event, data_type, ack.body)
            assert ack.body.get("detail")
        # The same connection then sends a valid chat, and the class receives it.
        assert (await client.send("chat", {"text": "still here"})).ok
        delivered = await teacher.wait_for(lambda m: m["type"] == "chat.message" and m["text"] == "still here")
        assert delivered["userId"] == student.user_id
        assert client.closed_reason is None
        await close_all([teacher, client])
    finally:
        await session.close()

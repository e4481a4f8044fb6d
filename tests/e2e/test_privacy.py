"""A student's export and erasure against the real stack: everything they left (a purchase
through the payment stand-in, progress, a quiz attempt, chat, a raised hand and a vote in a
live class, a download) shows in their export, and after erasure no store keeps their name
or words, their tokens are refused and their live connection is closed, while the counts
others rely on (poll tallies, points, purchases, progress) stay."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
import redis.asyncio as aioredis
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient
from psycopg.rows import dict_row

from shared_code.adapters.redis import keys
from shared_code.services.live import attendance_rows
from shared_code.settings import Settings
from tests.support.content import add_quiz, eventually, published_course
from tests.support.live import create_class, join, negotiate, new_session, start_class
from tests.support.payments import checkout, pay

pytestmark = pytest.mark.timeout(180)

SECRET_WORDS = "my phone number is 555-0100"


@pytest.fixture(scope="module")
def app_settings(stack) -> Settings:
    return Settings()


async def _table_rows(stack, table: str, clause: str, params: dict) -> list[dict]:
    async with TableClient.from_connection_string(stack.storage_connection_string, table) as client:
        try:
            return [dict(e) async for e in client.query_entities(clause, parameters=params)]
        except ResourceNotFoundError:
            return []  # no row written yet: the table is made with its first


async def _rows_landed(stack, table: str, clause: str, params: dict, count: int = 1) -> list[dict]:
    async def found() -> list[dict] | None:
        rows = await _table_rows(stack, table, clause, params)
        return rows if len(rows) >= count else None

    return await eventually(found, timeout=15)


async def _attendance_landed(stack, table: str, class_id: str, user_id: str, count: int = 1) -> list[dict]:
    """The user's attendance rows in the class, read out of the entities that hold them."""
    async def found() -> list[dict] | None:
        entities = await _table_rows(stack, table, "PartitionKey eq @c", {"c": class_id})
        rows = [r for r in attendance_rows.unique_rows(entities) if r["userId"] == user_id]
        return rows if len(rows) >= count else None

    return await eventually(found, timeout=15)


async def _pg(stack, sql: str, *params) -> list[dict]:
    async with await psycopg.AsyncConnection.connect(stack.postgres_url, row_factory=dict_row, autocommit=True) as conn:
        cur = await conn.execute(sql, params)
        return list(await cur.fetchall())


@pytest.fixture
async def history(api, actor, stack, app_settings):
    """A student with something in every section, and their class still running with them in it."""
    tutor, admin, victim, peer = await actor("tutor"), await actor("admin"), await actor("student"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=2500)
    bought = await checkout(api, victim, course["id"], provider="stripe")
    delivered = await pay(stack, bought["providerRef"])
    assert '"enrolled"' in delivered[0]["response"], delivered
    peer_buy = await checkout(api, peer, course["id"], provider="stripe")
    await pay(stack, peer_buy["providerRef"])

    beat = {"positionSeconds": 30, "watchedSeconds": 30, "durationSeconds": 600}
    assert (await api.put(f"progress/lessons/{lesson['id']}", json=beat, headers=victim.headers)).status_code in (200, 202)
    quiz = await add_quiz(api, tutor, course["id"])
    attempt = await api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": [[1]]},
                             headers={**victim.headers, "Idempotency-Key": "privacy-attempt"})
    assert attempt.status_code == 201, attempt.text
    played = await api.get(f"lessons/{lesson['id']}/playback", headers={**victim.headers, "User-Agent": "victim-phone/9.1"})
    assert played.status_code == 200, played.text
    # An admin action about them: an audit row whose target is the student.
    roles = await api.put(f"admin/users/{victim.user_id}/roles", json={"roles": ["student"]}, headers=admin.headers)
    assert roles.status_code == 200, roles.text

    klass = await create_class(api, tutor, course["id"])
    await start_class(api, tutor, klass["id"])
    poll = (await api.post(f"classes/{klass['id']}/polls", json={"question": "Ready?", "options": ["yes", "no"]},
                           headers=tutor.headers)).json()
    seen = {"tutor": tutor, "admin": admin, "victim": victim, "peer": peer, "course": course, "lesson": lesson,
            "quiz": quiz, "attempt": attempt.json(), "purchase": bought, "class": klass, "poll": poll}
    session = new_session()
    try:
        seen["live"] = await join(api, session, victim, klass["id"])
        seen["watcher"] = await join(api, session, peer, klass["id"])
        assert (await seen["live"].send("chat", {"text": SECRET_WORDS})).ok
        assert (await seen["live"].send("raiseHand", {})).ok
        assert (await seen["live"].send("vote", {"pollId": poll["id"], "option": 1})).ok
        await _attendance_landed(stack, app_settings.attendance_table, klass["id"], victim.user_id)
        await _rows_landed(stack, app_settings.access_log_table, "userId eq @u", {"u": victim.user_id})
        yield seen
    finally:
        for name in ("live", "watcher"):
            if name in seen:
                await seen[name].close()
        await session.close()


async def test_a_student_exports_every_section_of_what_lectern_holds_about_them(api, history):
    victim, course = history["victim"], history["course"]
    resp = await api.get("me/export", headers=victim.headers)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["userId"] == victim.user_id
    sections = doc["sections"]
    assert not any(s["truncated"] for s in sections.values())
    assert sections["profile"]["items"][0]["name"] == victim.name
    assert [e["courseId"] for e in sections["enrollments"]["items"]] == [course["id"]]
    # Progress is in PostgreSQL or, for the newest heartbeats, still waiting in Redis for the flush.
    watched = sections["progress"]["items"] + sections["progressPending"]["items"]
    # The video watched, and the quiz lesson the passed attempt completed (completion by lesson kind).
    assert {p["lessonId"] for p in watched} == {history["lesson"]["id"], history["quiz"]["lessonId"]}
    assert max(p["watchedSeconds"] for p in watched) > 0
    assert [a["id"] for a in sections["quizAttempts"]["items"]] == [history["attempt"]["attemptId"]]
    assert [v["pollId"] for v in sections["pollVotes"]["items"]] == [history["poll"]["id"]]
    assert [m["text"] for m in sections["chatMessages"]["items"]] == [SECRET_WORDS]
    assert [p["id"] for p in sections["purchases"]["items"]] == [history["purchase"]["purchaseId"]]
    assert sections["purchases"]["items"][0]["status"] == "paid"
    audit_targets = {(r["action"], r["target"]) for r in sections["audit"]["items"]}
    assert ("user.roles", f"user:{victim.user_id}") in audit_targets
    assert [r["userAgent"] for r in sections["contentAccess"]["items"]] == ["victim-phone/9.1"]
    assert {r["kind"] for r in sections["attendance"]["items"]} == {"join"}
    assert all(r["userId"] == victim.user_id for r in sections["attendance"]["items"])
    assert any(r["kind"] == "quiz.graded" or r.get("subjectId") for r in sections["changes"]["items"])
    # Nothing of anyone else: the peer's purchase and chat are in the same course and class.
    assert history["peer"].user_id not in resp.text


async def test_a_student_erases_themselves_and_no_store_keeps_their_name_or_words(api, history, stack, app_settings):
    victim, admin, tutor, peer = history["victim"], history["admin"], history["tutor"], history["peer"]
    class_id, course_id = history["class"]["id"], history["course"]["id"]
    # Their export is audited under their name until the erasure rewrites it.
    assert (await api.get("me/export", headers=victim.headers)).status_code == 200

    erased = await api.delete("me", headers=victim.headers)
    assert erased.status_code == 204, erased.text
    assert "erased" in await history["live"].wait_closed(timeout=10)

    # Their tokens, the old one and any new one for the same account, are refused.
    assert (await api.get("me/export", headers=victim.headers)).status_code == 401
    assert (await api.get("courses", headers=victim.headers)).status_code == 401
    assert (await api.delete("me", headers=victim.headers)).status_code == 401
    minted = await api.post("dev/token", json={"userId": victim.user_id, "name": victim.name, "roles": ["admin"]})
    fresh = {"Authorization": f"Bearer {minted.json()['token']}"}
    assert (await api.get(f"admin/users/{peer.user_id}/export", headers=fresh)).status_code == 401
    assert (await negotiate(api, victim, class_id)).status_code == 401

    # PostgreSQL: the account without name, email or roles; the messages without words.
    user = (await _pg(stack, "SELECT name, email, roles, erased_at FROM users WHERE id = %s", victim.user_id))[0]
    assert (user["name"], user["email"], user["roles"]) == ("Deleted user", None, [])
    assert user["erased_at"] is not None
    chat = await _pg(stack, "SELECT text, user_name FROM chat_messages WHERE user_id = %s", victim.user_id)
    assert chat == [{"text": "deleted", "user_name": "Deleted user"}]
    assert await _pg(stack, "SELECT 1 FROM idempotency_keys WHERE user_id = %s", victim.user_id) == []
    # Kept by id: the purchase (the law); progress, the attempt and the vote below.
    kept = await _pg(stack, "SELECT status, amount_cents FROM purchases WHERE user_id = %s", victim.user_id)
    assert kept == [{"status": "paid", "amount_cents": 2500}]

    # Tables: their name as an actor, in attendance, and their browser are gone; rows stay.
    audit_rows = await _table_rows(stack, app_settings.audit_table, "actorId eq @u", {"u": victim.user_id})
    assert audit_rows and {r["actorName"] for r in audit_rows} == {"Deleted user"}
    attendance = await _attendance_landed(stack, app_settings.attendance_table, class_id, victim.user_id, count=2)
    assert {r["userName"] for r in attendance if r["kind"] == "join"} == {"Deleted user"}
    assert {r["userName"] for r in attendance if r["kind"] == "leave"} == {""}
    access = await _table_rows(stack, app_settings.access_log_table, "userId eq @u", {"u": victim.user_id})
    assert access and {r["userAgent"] for r in access} == {""}

    # Redis, through the API others read it by: the class's hot state and the leaderboard.
    state = (await api.get(f"classes/{class_id}/state", headers=peer.headers)).json()
    theirs = [m for m in state["recentChat"] if m["userId"] == victim.user_id]
    assert theirs and {(m["text"], m["userName"]) for m in theirs} == {("deleted", "Deleted user")}
    assert victim.user_id not in {h["userId"] for h in state["raisedHands"]}
    assert state["openPoll"]["counts"] == [0, 1]  # the tally keeps their vote
    board = (await api.get(f"courses/{course_id}/leaderboard", headers=tutor.headers)).json()
    assert [(s["name"], s["points"]) for s in board["items"] if s["userId"] == victim.user_id] == [("Deleted user", 1)]
    history_page = (await api.get(f"classes/{class_id}/chat", headers=peer.headers)).json()
    assert [m["text"] for m in history_page["items"] if m["userId"] == victim.user_id] == ["deleted"]
    r = aioredis.from_url(stack.redis_url, decode_responses=True)
    try:
        assert await r.hget(keys.live_names(class_id), victim.user_id) in (None, "Deleted user")
        recent = [json.loads(i) for i in await r.lrange(keys.live_recent_chat(class_id), 0, -1)]
        assert SECRET_WORDS not in json.dumps(recent) and victim.name not in json.dumps(recent)
    finally:
        await r.aclose()

    # The erasure is audited without the name; an admin's repeat is fine and changes nothing.
    again = await api.delete(f"admin/users/{victim.user_id}", headers=admin.headers)
    assert again.status_code == 204, again.text
    left = await api.get(f"admin/users/{victim.user_id}/export", headers=admin.headers)
    assert left.status_code == 200, left.text
    assert victim.name not in left.text and SECRET_WORDS not in left.text and "victim-phone" not in left.text
    sections = left.json()["sections"]
    assert sections["profile"]["items"][0]["erasedAt"] is not None
    assert [p["id"] for p in sections["purchases"]["items"]] == [history["purchase"]["purchaseId"]]
    assert sections["progress"]["items"] + sections["progressPending"]["items"]
    assert [a["score"] for a in sections["quizAttempts"]["items"]] == [1]
    assert [v["option"] for v in sections["pollVotes"]["items"]] == [1]

    async def erasures() -> list[dict] | None:
        page = await api.get("admin/audit", params={"action": "user.erase", "limit": 200}, headers=admin.headers)
        rows = [e for e in page.json()["items"] if e["target"] == f"user:{victim.user_id}"]
        return rows if len(rows) >= 2 else None

    rows = await eventually(erasures, timeout=15)
    assert victim.name not in json.dumps(rows)
    by_self = [e for e in rows if e["actorId"] == victim.user_id]
    assert by_self and by_self[0]["actorName"] == "Deleted user" and by_self[0]["details"]["self"] is True
    by_admin = [e for e in rows if e["actorId"] == admin.user_id]
    assert by_admin and by_admin[0]["details"]["repeat"] is True and by_admin[0]["details"]["failed"] == []


async def test_a_student_can_neither_export_nor_erase_anyone_else(api, actor):
    victim, attacker = await actor("student"), await actor("student")
    # The admin variants refuse students, whatever id the route names.
    assert (await api.get(f"admin/users/{victim.user_id}/export", headers=attacker.headers)).status_code == 403
    assert (await api.delete(f"admin/users/{victim.user_id}", headers=attacker.headers)).status_code == 403
    # An id in the body or the query names no one: /me is the caller, from the token.
    export = await api.get("me/export", params={"userId": victim.user_id}, headers=attacker.headers)
    assert export.status_code == 200 and export.json()["userId"] == attacker.user_id
    assert victim.user_id not in export.text
    erased = await api.request("DELETE", "me", json={"userId": victim.user_id}, headers=attacker.headers)
    assert erased.status_code == 204
    assert (await api.get("me/export", headers=victim.headers)).status_code == 200
    assert (await api.get("me/export", headers=attacker.headers)).status_code == 401


async def test_a_tutor_cannot_use_the_admin_variants_and_unknown_users_are_not_found(api, actor):
    tutor, admin, student = await actor("tutor"), await actor("admin"), await actor("student")
    assert (await api.get(f"admin/users/{student.user_id}/export", headers=tutor.headers)).status_code == 403
    assert (await api.delete(f"admin/users/{student.user_id}", headers=tutor.headers)).status_code == 403
    nobody = str(uuid.uuid4())
    assert (await api.get(f"admin/users/{nobody}/export", headers=admin.headers)).status_code == 404
    assert (await api.delete(f"admin/users/{nobody}", headers=admin.headers)).status_code == 404
    assert (await api.delete("admin/users/not-an-id", headers=admin.headers)).status_code == 404
    # An erased admin is no admin: its token is refused before any role is looked at.
    other_admin = await actor("admin")
    assert (await api.delete(f"admin/users/{other_admin.user_id}", headers=admin.headers)).status_code == 204
    assert (await api.get(f"admin/users/{student.user_id}/export", headers=other_admin.headers)).status_code == 401
    # And an admin cannot give an erased account its roles back.
    revived = await api.put(f"admin/users/{other_admin.user_id}/roles", json={"roles": ["admin"]}, headers=admin.headers)
    assert revived.status_code == 404
    assert (await api.get("me/export", headers=other_admin.headers)).status_code == 401


async def test_exports_are_rate_limited_per_caller(api, actor, app_settings):
    student = await actor("student")
    answers = [(await api.get("me/export", headers=student.headers)).status_code
               for _ in range(app_settings.rate_limit_exports_per_minute + 1)]
    assert answers[:-1] == [200] * app_settings.rate_limit_exports_per_minute
    assert answers[-1] == 429

"""The notification feed through the HTTP API: published materials reach the enrolled
students only, a graded quiz and a refund reach the student, each is pushed live as
`notification.created`, and marking read touches only the caller's own notifications."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from tests.support.actors import Actor
from tests.support.content import add_quiz, eventually, published_course, upload_material
from tests.support.content import enrol as enrol_in
from tests.support.live import close_all, connect_personal, create_class, enrolled_students, join, new_session
from tests.support.payments import checkout, pay

pytestmark = pytest.mark.timeout(120)


async def feed(api, who: Actor, **params) -> dict:
    resp = await api.get("me/notifications", params=params, headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def notified(api, who: Actor, key: str) -> dict:
    """The caller's notification of `key`, once it has landed (it is written off the request's path)."""

    async def found() -> dict | None:
        return next((n for n in (await feed(api, who))["items"] if n["key"] == key), None)

    return await eventually(found, timeout=15)


async def publish_material(api, tutor: Actor, course_id: str, name: str = "notes.pdf") -> str:
    grant = await upload_material(api, tutor, course_id, b"%PDF-1.4 notes", file_name=name, content_type="application/pdf")
    resp = await api.post(f"materials/{grant['materialId']}/publish", headers=tutor.headers)
    assert resp.status_code == 200, resp.text
    return grant["materialId"]


async def test_a_published_material_notifies_the_enrolled_students_only_and_is_pushed_live(api, actor):
    tutor, first, second, outsider = await actor("tutor"), await actor("student"), await actor("student"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol_in(api, first, course["id"])
    await enrol_in(api, second, course["id"])
    async with aiohttp.ClientSession() as session:
        socket = await connect_personal(api, session, first)
        try:
            material_id = await publish_material(api, tutor, course["id"])
            pushed = await socket.wait_for(lambda m: m.get("type") == "notification.created")
        finally:
            await socket.close()
    key = f"material.published:{material_id}"
    assert pushed["key"] == key and pushed["kind"] == "material.published"
    for student in (first, second):
        mine = await notified(api, student, key)
        assert mine["data"]["materialId"] == material_id and mine["readAt"] is None
        assert course["title"] in mine["title"] and "notes.pdf" in mine["body"]
    # Few recipients are pushed one by one: the push names the student's own row.
    assert pushed["id"] == (await notified(api, first, key))["id"]
    for nobody in (outsider, tutor):
        assert [n for n in (await feed(api, nobody))["items"] if n["key"] == key] == []


async def test_a_material_for_many_students_is_one_course_send_that_leaves_the_tutor_out(api, actor):
    tutor = await actor("tutor")
    course, _ = await published_course(api, tutor)
    klass = await create_class(api, tutor, course["id"])
    students = await enrolled_students(api, actor, course["id"], 22)
    session = new_session()
    sockets = []
    try:
        # The tutor's class connection is in the course group too, as every member's is.
        sockets = [await connect_personal(api, session, students[0]), await join(api, session, tutor, klass["id"])]
        material_id = await publish_material(api, tutor, course["id"])
        await sockets[1].wait_for(lambda m: m.get("type") == "material.published")
        pushed = await sockets[0].wait_for(lambda m: m.get("type") == "notification.created")
        key = f"material.published:{material_id}"
        assert pushed["key"] == key and "id" not in pushed
        for student in (students[0], students[-1]):
            await notified(api, student, key)
        # The same send reached both connections at once; its filter left the tutor out.
        await asyncio.sleep(0.5)
        assert sockets[1].of_type("notification.created") == []
    finally:
        await close_all(sockets)
        await session.close()


async def test_a_graded_quiz_notifies_the_student_with_the_score_and_pushes_it(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol_in(api, student, course["id"])
    quiz = await add_quiz(api, tutor, course["id"])
    async with aiohttp.ClientSession() as session:
        socket = await connect_personal(api, session, student)
        try:
            resp = await api.post(
                f"quizzes/{quiz['id']}/attempts", json={"answers": [[1]]},
                headers={**student.headers, "Idempotency-Key": str(uuid.uuid4())},
            )
            assert resp.status_code == 201, resp.text
            attempt = resp.json()
            pushed = await socket.wait_for(lambda m: m.get("type") == "notification.created")
        finally:
            await socket.close()
    mine = await notified(api, student, f"quiz.graded:{attempt['attemptId']}")
    assert mine["kind"] == "quiz.graded" and pushed["id"] == mine["id"]
    assert (mine["data"]["score"], mine["data"]["maxScore"]) == (1, 1) and "1 of 1" in mine["body"]
    assert [n for n in (await feed(api, tutor))["items"] if n["kind"] == "quiz.graded"] == []


async def test_a_refund_from_the_payment_webhook_notifies_the_buyer(api, actor, stack):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor, price_cents=4000)
    bought = await checkout(api, buyer, course["id"], provider="stripe")
    await pay(stack, bought["providerRef"])
    delivered = await pay(stack, bought["providerRef"], "refund")
    assert '"refunded; enrolment ended"' in delivered[0]["response"], delivered
    mine = await notified(api, buyer, f"purchase.refunded:{bought['purchaseId']}")
    assert mine["kind"] == "purchase.refunded" and mine["data"]["amountCents"] == 4000
    assert "40.00" in mine["body"]
    # The provider delivers the refund again: the buyer still has one notification of it.
    await pay(stack, bought["providerRef"], "refund")
    refunds = [n for n in (await feed(api, buyer))["items"] if n["kind"] == "purchase.refunded"]
    assert len(refunds) == 1


async def test_a_student_cannot_mark_another_users_notification_read(api, actor):
    tutor, victim, attacker = await actor("tutor"), await actor("student"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol_in(api, victim, course["id"])
    material_id = await publish_material(api, tutor, course["id"])
    theirs = await notified(api, victim, f"material.published:{material_id}")

    resp = await api.post("me/notifications/read", json={"ids": [theirs["id"]]}, headers=attacker.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"updated": 0, "unreadCount": 0}
    resp = await api.post("me/notifications/read", json={"all": True}, headers=attacker.headers)
    assert resp.json()["updated"] == 0
    still = await feed(api, victim)
    assert still["unreadCount"] == 1 and still["items"][0]["readAt"] is None

    resp = await api.post("me/notifications/read", json={"ids": [theirs["id"]]}, headers=victim.headers)
    assert resp.json() == {"updated": 1, "unreadCount": 0}
    assert (await feed(api, victim, unread="true"))["items"] == []
    assert (await feed(api, victim))["items"][0]["readAt"] is not None


async def test_the_feed_pages_newest_first_filters_unread_and_marks_all_read(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol_in(api, student, course["id"])
    first = await publish_material(api, tutor, course["id"], "one.pdf")
    second = await publish_material(api, tutor, course["id"], "two.pdf")
    older = await notified(api, student, f"material.published:{first}")
    newer = await notified(api, student, f"material.published:{second}")

    page = await feed(api, student, limit=1)
    assert [n["id"] for n in page["items"]] == [newer["id"]] and page["unreadCount"] == 2
    rest = await feed(api, student, limit=1, cursor=page["nextCursor"])
    assert [n["id"] for n in rest["items"]] == [older["id"]] and rest["nextCursor"] is None

    await api.post("me/notifications/read", json={"ids": [newer["id"]]}, headers=student.headers)
    unread = await feed(api, student, unread="true")
    assert [n["id"] for n in unread["items"]] == [older["id"]] and unread["unreadCount"] == 1
    resp = await api.post("me/notifications/read", json={"all": True}, headers=student.headers)
    assert resp.json() == {"updated": 1, "unreadCount": 0}


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": []}, {"all": False}, {"ids": [str(uuid.uuid4())], "all": True}, {"ids": ["not-a-uuid"]},
     {"ids": [str(uuid.uuid4())] * 201}, {"all": True, "userId": str(uuid.uuid4())}],
)
async def test_marking_read_refuses_a_malformed_body_with_a_problem(api, actor, body):
    student = await actor("student")
    resp = await api.post("me/notifications/read", json=body, headers=student.headers)
    assert resp.status_code in (400, 422), resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_the_feed_refuses_a_forged_cursor_and_needs_a_token(api, actor):
    student = await actor("student")
    resp = await api.get("me/notifications", params={"cursor": "forged"}, headers=student.headers)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("application/problem+json")
    assert (await api.get("me/notifications")).status_code == 401

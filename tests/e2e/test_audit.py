"""Every privileged action leaves an audit row that an admin finds by actor, action and
time: publishing (courses and materials), enrolment by an admin, role changes,
moderation, quizzes (their answer keys decide every grade) and dead-letter replays (in
test_outbox_and_dead_letters.py). The trail is read-only through the API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.content import add_lesson, create_course, eventually, publish, upload_material
from tests.support.live import create_class, start_class

pytestmark = pytest.mark.timeout(90)


async def _rows(api, admin, **params) -> list[dict]:
    resp = await api.get("admin/audit", params=params, headers=admin.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def _one(api, admin, actor, action: str) -> dict:
    """The single row of `action` by `actor` (rows land through the outbox, so wait a little)."""

    async def found():
        rows = await _rows(api, admin, actor=actor.user_id, action=action)
        return rows or None

    rows = await eventually(found, timeout=15)
    assert len(rows) == 1, rows
    assert rows[0]["actorId"] == actor.user_id and rows[0]["actorName"] == actor.name
    return rows[0]


async def test_each_privileged_action_leaves_one_row_with_who_what_and_details(api, actor):
    tutor, admin, student = await actor("tutor"), await actor("admin"), await actor("student")
    course = await create_course(api, tutor)
    lesson = await add_lesson(api, tutor, course["id"], title="Quiz", kind="quiz")
    await publish(api, tutor, course["id"])

    enrolled = await api.post(f"courses/{course['id']}/enrollments", json={"userId": student.user_id}, headers=admin.headers)
    assert enrolled.status_code == 201, enrolled.text
    roles = await api.put(f"admin/users/{student.user_id}/roles", json={"roles": ["student", "tutor"]}, headers=admin.headers)
    assert roles.status_code == 200, roles.text
    quiz = await api.post("quizzes", headers=tutor.headers, json={
        "lessonId": lesson["id"], "title": "Graded", "questions": [{"prompt": "?", "options": ["a", "b"], "correct": [1], "points": 2}]})
    assert quiz.status_code == 201, quiz.text
    material = await upload_material(api, tutor, course["id"], b"%PDF-1.4 audit", file_name="a.pdf", content_type="application/pdf")
    published = await api.post(f"materials/{material['materialId']}/publish", headers=tutor.headers)
    assert published.status_code == 200, published.text
    klass = await create_class(api, tutor, course["id"])
    await start_class(api, tutor, klass["id"])
    for action in ("mute", "remove"):
        resp = await api.post(f"classes/{klass['id']}/moderation", json={"action": action, "userId": student.user_id},
                              headers=tutor.headers)
        assert resp.status_code == 200, resp.text
    unpublished = await api.patch(f"courses/{course['id']}", json={"published": False}, headers=tutor.headers)
    assert unpublished.status_code == 200, unpublished.text

    row = await _one(api, admin, tutor, "course.published")
    assert row["target"] == f"course/{course['id']}"
    assert (await _one(api, admin, tutor, "course.unpublished"))["target"] == f"course/{course['id']}"
    row = await _one(api, admin, admin, "enrollment.created")
    assert student.user_id in row["target"] and row["details"]["source"] == "admin"
    row = await _one(api, admin, admin, "user.roles")
    assert row["target"] == f"user:{student.user_id}"
    assert row["details"]["before"] == ["student"] and row["details"]["after"] == ["student", "tutor"]
    row = await _one(api, admin, tutor, "quiz.created")
    assert row["target"] == f"quiz/{quiz.json()['id']}" and row["details"]["lessonId"] == lesson["id"]
    row = await _one(api, admin, tutor, "material.published")
    assert row["target"] == f"material/{material['materialId']}"
    for action in ("mute", "remove"):
        row = await _one(api, admin, tutor, f"class.moderation.{action}")
        assert klass["id"] in row["target"] and row["details"]["userId"] == student.user_id


async def test_the_trail_filters_by_actor_action_and_time_newest_first(api, actor):
    tutor, other, admin = await actor("tutor"), await actor("tutor"), await actor("admin")
    first, second = await create_course(api, tutor), await create_course(api, tutor)
    await publish(api, tutor, first["id"])
    await asyncio.sleep(0.05)
    between = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await publish(api, tutor, second["id"])
    theirs = await create_course(api, other)
    await publish(api, other, theirs["id"])

    async def both():
        rows = await _rows(api, admin, actor=tutor.user_id, action="course.published")
        return rows if len(rows) == 2 else None

    rows = await eventually(both, timeout=15)
    assert [r["target"] for r in rows] == [f"course/{second['id']}", f"course/{first['id']}"], "newest first"
    assert {r["actorId"] for r in rows} == {tutor.user_id}

    later = await _rows(api, admin, actor=tutor.user_id, action="course.published", **{"from": between.isoformat()})
    assert [r["target"] for r in later] == [f"course/{second['id']}"]
    earlier = await _rows(api, admin, actor=tutor.user_id, action="course.published", to=between.isoformat())
    assert [r["target"] for r in earlier] == [f"course/{first['id']}"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await _rows(api, admin, actor=tutor.user_id, **{"from": future}) == []
    assert await _rows(api, admin, actor=tutor.user_id, action="user.roles") == []

    page = await api.get("admin/audit", params={"actor": tutor.user_id, "limit": 1}, headers=admin.headers)
    assert len(page.json()["items"]) == 1 and page.json()["nextCursor"]
    rest = await api.get("admin/audit", params={"actor": tutor.user_id, "limit": 1, "cursor": page.json()["nextCursor"]},
                         headers=admin.headers)
    assert rest.json()["items"][0]["id"] != page.json()["items"][0]["id"]


async def test_only_admins_read_the_trail_and_nobody_can_change_it(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    assert (await api.get("admin/audit", headers=tutor.headers)).status_code == 403
    assert (await api.get("admin/audit")).status_code == 401
    bad = await api.get("admin/audit", params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
                        headers=admin.headers)
    assert bad.status_code == 400
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        resp = await api.request(method, "admin/audit", json={"action": "forged"}, headers=admin.headers)
        assert resp.status_code == 404, (method, resp.status_code)

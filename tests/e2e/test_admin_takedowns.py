"""Takedowns: an admin hides a course or a material everywhere, audited and reversible.

Each path a student (or a script with a student's token) could take to a taken-down
course is tried after its caches were warmed, so a stale Redis entry would show: the
catalog, the course, its lessons, playback, materials, downloads, quizzes and attempts,
heartbeats, the leaderboard, enrolment, checkout, the live class (negotiate, a connect
with an URL negotiated before, a connection already open), and the dashboard. The
owning tutor sees it flagged and read-only; admins see and do everything.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.content import (
    add_lesson,
    add_quiz,
    create_course,
    enrol,
    publish,
    published_course,
    upload_material,
)
from tests.support.live import (
    connect_personal,
    connect_refusal,
    create_class,
    join,
    negotiate,
    new_session,
    start_class,
)
from tests.support.payments import audit_rows

pytestmark = pytest.mark.timeout(180)

REASON = "Copyright claim 2026-117"


async def _published_material(api, tutor, course_id: str, name: str = "notes.pdf") -> str:
    grant = await upload_material(api, tutor, course_id, b"%PDF-1.4 takedown", file_name=name,
                                  content_type="application/pdf")
    resp = await api.post(f"materials/{grant['materialId']}/publish", headers=tutor.headers)
    assert resp.status_code == 200, resp.text
    return grant["materialId"]


async def _catalog_ids(api, who) -> set[str]:
    resp = await api.get("courses", params={"limit": 200}, headers=who.headers)
    assert resp.status_code == 200, resp.text
    return {c["id"] for c in resp.json()["items"]}


async def _dashboard_ids(api, who) -> set[str]:
    resp = await api.get("me/dashboard", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return {c["courseId"] for c in resp.json()["courses"]}


@pytest.fixture
async def course_world(api, actor):
    owner, admin = await actor("tutor"), await actor("admin")
    student, newcomer = await actor("student"), await actor("student")
    course = await create_course(api, owner)
    video = await add_lesson(api, owner, course["id"], title="Video")
    quiz = await add_quiz(api, owner, course["id"])
    await publish(api, owner, course["id"])
    material = await _published_material(api, owner, course["id"])
    await enrol(api, student, course["id"])
    live = await create_class(api, owner, course["id"])
    await start_class(api, owner, live["id"])
    spare = await create_class(api, owner, course["id"], title="Next week")
    paid, _ = await published_course(api, owner, price_cents=1900)
    return {
        "owner": owner, "admin": admin, "student": student, "newcomer": newcomer, "course": course["id"],
        "video": video["id"], "quiz": quiz["id"], "material": material, "live": live["id"], "spare": spare["id"],
        "paid": paid["id"],
    }


async def _student_paths(api, w) -> dict[str, int]:
    """The status of every way in, for the enrolled student (and a newcomer for enrol/checkout)."""
    s, c = w["student"].headers, w["course"]
    beat = {"positionSeconds": 1, "watchedSeconds": 1, "durationSeconds": 600}
    return {
        "course": (await api.get(f"courses/{c}", headers=s)).status_code,
        "lesson": (await api.get(f"lessons/{w['video']}", headers=s)).status_code,
        "playback": (await api.get(f"lessons/{w['video']}/playback", headers=s)).status_code,
        "materials": (await api.get(f"courses/{c}/materials", headers=s)).status_code,
        "download": (await api.get(f"materials/{w['material']}/download", headers=s)).status_code,
        "quiz": (await api.get(f"quizzes/{w['quiz']}", headers=s)).status_code,
        "attempt": (await api.post(f"quizzes/{w['quiz']}/attempts", json={"answers": [[0]]},
                                   headers={**s, "Idempotency-Key": f"k-{datetime.now(UTC).timestamp()}"})).status_code,
        "heartbeat": (await api.put(f"progress/lessons/{w['video']}", json=beat, headers=s)).status_code,
        "leaderboard": (await api.get(f"courses/{c}/leaderboard", headers=s)).status_code,
        "classes": (await api.get("classes", params={"courseId": c}, headers=s)).status_code,
        "class": (await api.get(f"classes/{w['live']}", headers=s)).status_code,
        "negotiate": (await negotiate(api, w["student"], w["live"])).status_code,
        "state": (await api.get(f"classes/{w['live']}/state", headers=s)).status_code,
        "chat": (await api.get(f"classes/{w['live']}/chat", headers=s)).status_code,
    }


async def test_a_taken_down_course_is_gone_for_students_on_every_path_and_back_on_restore(api, course_world):
    w = course_world
    student, owner, admin, newcomer = w["student"], w["owner"], w["admin"], w["newcomer"]
    # Warm every cache on the way: the course, lesson and membership entries, the dashboard snapshot.
    before = await _student_paths(api, w)
    assert all(status < 400 or name == "attempt" for name, status in before.items()), before
    assert w["course"] in await _catalog_ids(api, student)
    assert w["course"] in await _dashboard_ids(api, student)
    session = new_session()
    try:
        watching = await join(api, session, student, w["live"])
        # URLs negotiated before the takedown, for a class that has not ended.
        early_student = (await negotiate(api, student, w["spare"])).json()["url"]
        early_owner = (await negotiate(api, owner, w["spare"])).json()["url"]

        resp = await api.post(f"admin/courses/{w['course']}/takedown", json={"reason": REASON}, headers=admin.headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["takenDown"] is True and resp.json()["takenDownReason"] == REASON
        assert resp.json()["takenDownBy"] == admin.user_id

        after = await _student_paths(api, w)
        assert after == dict.fromkeys(after, 404), after
        assert w["course"] not in await _catalog_ids(api, student)
        assert w["course"] not in await _dashboard_ids(api, student)
        enrolling = await api.post(f"courses/{w['course']}/enrollments", json={}, headers=newcomer.headers)
        assert enrolling.status_code == 404
        synced = await api.post("progress/sync", headers=student.headers, json={"events": [
            {"lessonId": w["video"], "positionSeconds": 5, "watchedSeconds": 5, "durationSeconds": 600,
             "clientTime": datetime.now(UTC).isoformat()}]})
        assert synced.status_code == 200 and synced.json()["accepted"] == [], synced.text
        # The connection already open hears the class end; a URL negotiated before is refused.
        await watching.wait_for(lambda m: m.get("type") == "class.ended")
        assert (await connect_refusal(session, early_student))[0] == 404
        assert (await connect_refusal(session, early_owner))[0] == 403
        await watching.close()
    finally:
        await session.close()

    # The owner: flagged, readable, read-only, nothing handed on.
    listed = [c for c in (await api.get("courses", params={"limit": 200}, headers=owner.headers)).json()["items"]
              if c["id"] == w["course"]]
    assert listed and listed[0]["takenDownReason"] == REASON and listed[0]["takenDownAt"]
    detail = await api.get(f"courses/{w['course']}", headers=owner.headers)
    assert detail.status_code == 200 and detail.json()["takenDownReason"] == REASON
    assert (await api.get(f"lessons/{w['video']}", headers=owner.headers)).status_code == 200
    assert (await api.get(f"courses/{w['course']}/materials", headers=owner.headers)).status_code == 200
    refused = {
        "edit": await api.patch(f"courses/{w['course']}", json={"description": "sneaky"}, headers=owner.headers),
        "unpublish": await api.patch(f"courses/{w['course']}", json={"published": False}, headers=owner.headers),
        "lesson": await api.post(f"courses/{w['course']}/lessons", json={"title": "x", "kind": "document"},
                                 headers=owner.headers),
        "lesson edit": await api.patch(f"lessons/{w['video']}", json={"title": "y"}, headers=owner.headers),
        "playback": await api.get(f"lessons/{w['video']}/playback", headers=owner.headers),
        "upload": await api.post(f"courses/{w['course']}/materials/uploads", headers=owner.headers,
                                 json={"fileName": "a.pdf", "contentType": "application/pdf", "sizeBytes": 10}),
        "download": await api.get(f"materials/{w['material']}/download", headers=owner.headers),
        "material delete": await api.delete(f"materials/{w['material']}", headers=owner.headers),
        "quiz": await api.post("quizzes", headers=owner.headers, json={
            "lessonId": w["video"], "title": "Q", "questions": [{"prompt": "?", "options": ["a", "b"], "correct": [0], "points": 1}]}),
        "class": await api.post("classes", headers=owner.headers, json={
            "courseId": w["course"], "title": "again", "scheduledAt": (datetime.now(UTC) + timedelta(days=1)).isoformat()}),
        "start": await api.post(f"classes/{w['spare']}/start", headers=owner.headers),
        "negotiate": await negotiate(api, owner, w["spare"]),
        "video": await api.post("videos", json={"title": "v", "courseId": w["course"]}, headers=owner.headers),
    }
    wrong = {k: (r.status_code, r.text[:120]) for k, r in refused.items()
             if r.status_code != 409 or not r.json()["type"].endswith("/taken-down")}
    assert not wrong, wrong

    # Admins see and use it all.
    assert (await api.get(f"courses/{w['course']}", headers=admin.headers)).status_code == 200
    assert (await api.get(f"lessons/{w['video']}/playback", headers=admin.headers)).status_code == 200
    assert (await api.get(f"materials/{w['material']}/download", headers=admin.headers)).status_code == 200

    # A paid course taken down cannot be bought.
    assert (await api.post(f"admin/courses/{w['paid']}/takedown", json={"reason": REASON},
                           headers=admin.headers)).status_code == 200
    assert (await api.post(f"courses/{w['paid']}/checkout", json={}, headers=newcomer.headers)).status_code == 404

    restored = await api.delete(f"admin/courses/{w['course']}/takedown", headers=admin.headers)
    assert restored.status_code == 200 and restored.json()["takenDown"] is False
    back = await _student_paths(api, w)
    assert back["course"] == back["lesson"] == back["playback"] == back["download"] == back["quiz"] == 200, back
    assert w["course"] in await _catalog_ids(api, student)
    assert w["course"] in await _dashboard_ids(api, student)
    assert (await api.patch(f"courses/{w['course']}", json={"description": "fixed"}, headers=owner.headers)).status_code == 200

    down = (await audit_rows(api, admin, "course.taken_down", f"course/{w['course']}"))[0]
    assert down["actorId"] == admin.user_id
    assert down["details"]["before"]["takenDown"] is False and down["details"]["after"]["reason"] == REASON
    up = (await audit_rows(api, admin, "course.restored", f"course/{w['course']}"))[0]
    assert up["details"]["before"]["takenDown"] is True and up["details"]["after"]["takenDown"] is False


async def test_a_taken_down_material_is_gone_for_students_and_read_only_for_its_tutor(api, actor):
    owner, admin, student = await actor("tutor"), await actor("admin"), await actor("student")
    course, _ = await published_course(api, owner)
    kept = await _published_material(api, owner, course["id"], "kept.pdf")
    hidden = await _published_material(api, owner, course["id"], "hidden.pdf")
    await enrol(api, student, course["id"])
    assert (await api.get(f"materials/{hidden}/download", headers=student.headers)).status_code == 200

    resp = await api.post(f"admin/materials/{hidden}/takedown", json={"reason": REASON}, headers=admin.headers)
    assert resp.status_code == 200 and resp.json()["courseId"] == course["id"], resp.text
    listed = (await api.get(f"courses/{course['id']}/materials", headers=student.headers)).json()["items"]
    assert [m["id"] for m in listed] == [kept]
    assert (await api.get(f"materials/{hidden}/download", headers=student.headers)).status_code == 404
    assert (await api.get(f"materials/{kept}/download", headers=student.headers)).status_code == 200

    mine = (await api.get(f"courses/{course['id']}/materials", headers=owner.headers)).json()["items"]
    assert {m["id"]: m["takenDownReason"] for m in mine} == {kept: None, hidden: REASON}
    for refused in (await api.get(f"materials/{hidden}/download", headers=owner.headers),
                    await api.delete(f"materials/{hidden}", headers=owner.headers)):
        assert refused.status_code == 409 and refused.json()["type"].endswith("/taken-down"), refused.text
    assert (await api.get(f"materials/{hidden}/download", headers=admin.headers)).status_code == 200

    assert (await api.delete(f"admin/materials/{hidden}/takedown", headers=admin.headers)).status_code == 200
    assert (await api.get(f"materials/{hidden}/download", headers=student.headers)).status_code == 200
    rows = await audit_rows(api, admin, "material.taken_down", f"material/{hidden}")
    assert rows[0]["details"]["after"]["reason"] == REASON and rows[0]["details"]["courseId"] == course["id"]
    await audit_rows(api, admin, "material.restored", f"material/{hidden}")


async def test_takedowns_are_for_admins_only_and_check_their_input(api, actor):
    owner, admin, student = await actor("tutor"), await actor("admin"), await actor("student")
    course, _ = await published_course(api, owner)
    for who, expected in ((owner, 403), (student, 403)):
        resp = await api.post(f"admin/courses/{course['id']}/takedown", json={"reason": REASON}, headers=who.headers)
        assert resp.status_code == expected
    assert (await api.post(f"admin/courses/{course['id']}/takedown", json={}, headers=admin.headers)).status_code == 400
    assert (await api.post(f"admin/courses/{course['id']}/takedown", json={"reason": "x"},
                           headers=admin.headers)).status_code == 400
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await api.post(f"admin/courses/{missing}/takedown", json={"reason": REASON},
                           headers=admin.headers)).status_code == 404
    assert (await api.delete(f"admin/materials/{missing}/takedown", headers=admin.headers)).status_code == 404
    # Twice is once: the second answers the same state and writes no second audit row.
    first = await api.post(f"admin/courses/{course['id']}/takedown", json={"reason": REASON}, headers=admin.headers)
    second = await api.post(f"admin/courses/{course['id']}/takedown", json={"reason": "other"}, headers=admin.headers)
    assert first.json() == second.json()
    assert (await api.delete(f"admin/courses/{course['id']}/takedown", headers=admin.headers)).status_code == 200
    assert (await api.delete(f"admin/courses/{course['id']}/takedown", headers=admin.headers)).json()["takenDown"] is False


async def test_a_taken_down_course_pushes_nothing_to_its_students_and_new_connections_leave_it_out(api, actor):
    owner, admin, student = await actor("tutor"), await actor("admin"), await actor("student")
    course, _ = await published_course(api, owner)
    await enrol(api, student, course["id"])
    session = new_session()
    try:
        before = await connect_personal(api, session, student)  # in the course's group
        assert (await api.post(f"admin/courses/{course['id']}/takedown", json={"reason": REASON},
                               headers=admin.headers)).status_code == 200
        after = await connect_personal(api, session, student)  # joins no group of the course
        hushed = await _published_material(api, admin, course["id"], "hushed.pdf")
        assert (await api.delete(f"admin/courses/{course['id']}/takedown", headers=admin.headers)).status_code == 200
        told = await _published_material(api, admin, course["id"], "told.pdf")
        pushed = await before.wait_for(lambda m: m.get("type") == "material.published")
        assert pushed["materialId"] == told, "the material published while the course was down was pushed"
        assert hushed not in [m["materialId"] for m in before.of_type("material.published")]
        await asyncio.sleep(1)  # as long as `before` needed, and more
        assert [m["materialId"] for m in after.of_type("material.published")] == []
        await before.close()
        await after.close()
    finally:
        await session.close()

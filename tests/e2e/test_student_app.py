"""The student app: the caller's profile, their enrolments with progress, and leaving a free course."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from tests.support.content import add_lesson, audit_rows, create_course, enrol, publish, published_course
from tests.support.live import create_class, join, negotiate, start_class
from tests.support.progress import enrolled_earlier

pytestmark = pytest.mark.timeout(120)

BEAT = {"positionSeconds": 1, "watchedSeconds": 1, "durationSeconds": 600}


async def complete_offline(api, stack, student, lesson: dict, duration: int = 60) -> None:
    """Watches a whole lesson offline (as a student enrolled for a while) and syncs it."""
    await enrolled_earlier(stack.postgres_url, student.user_id, lesson["courseId"], timedelta(hours=3))
    t0 = datetime.now(UTC) - timedelta(hours=2)
    events = [
        {"lessonId": lesson["id"], "positionSeconds": w, "watchedSeconds": w, "durationSeconds": duration,
         "clientTime": (t0 + timedelta(seconds=w)).isoformat()}
        for w in range(0, duration + 1, 5)
    ]
    resp = await api.post("progress/sync", json={"events": events}, headers=student.headers)
    assert resp.status_code == 200 and not resp.json()["refused"], resp.text


async def my_enrollments(api, student, **params) -> dict:
    resp = await api.get("me/enrollments", params=params, headers=student.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_the_profile_is_the_stored_account_not_the_token(api, actor):
    student, admin = await actor("student", name="Ada Student"), await actor("admin")
    me = await api.get("me", headers=student.headers)
    assert me.status_code == 200, me.text
    body = me.json()
    assert (body["id"], body["name"], body["roles"], body["email"]) == (student.user_id, "Ada Student", ["student"], None)
    assert datetime.fromisoformat(body["createdAt"]) <= datetime.now(UTC)
    # An admin's change is what the profile shows next, with the same token.
    assert (await api.put(f"admin/users/{student.user_id}/roles", json={"roles": ["student", "tutor"]},
                          headers=admin.headers)).status_code == 200
    again = await api.get("me", headers=student.headers)
    assert sorted(again.json()["roles"]) == ["student", "tutor"]
    assert (await api.get("me")).status_code == 401


async def test_my_enrollments_show_progress_and_page_newest_first(api, actor, stack):
    tutor, student, other = await actor("tutor"), await actor("student"), await actor("student")
    courses = []
    for i in range(3):
        made = await create_course(api, tutor, title=f"Enrolments {i}")
        lessons = [await add_lesson(api, tutor, made["id"], title=f"L{j}", durationSeconds=60) for j in range(2)]
        await publish(api, tutor, made["id"])
        await enrol(api, student, made["id"])
        courses.append((made, lessons))
    await enrol(api, other, courses[0][0]["id"])
    await complete_offline(api, stack, student, courses[1][1][0])
    whole = await my_enrollments(api, student)
    # complete_offline moved course 1's enrolment three hours back, so it comes last.
    assert [i["courseId"] for i in whole["items"]] == [courses[2][0]["id"], courses[0][0]["id"], courses[1][0]["id"]]
    done = whole["items"][-1]
    assert (done["title"], done["status"], done["completedLessons"], done["lessonsTotal"], done["progressPercent"]) == (
        "Enrolments 1", "active", 1, 2, 50.0)
    assert all(i["completedLessons"] == 0 and i["lessonsTotal"] == 2 for i in whole["items"][:2])
    first = await my_enrollments(api, student, limit=2)
    second = await my_enrollments(api, student, limit=2, cursor=first["nextCursor"])
    assert [i["courseId"] for i in first["items"] + second["items"]] == [i["courseId"] for i in whole["items"]]
    assert second["nextCursor"] is None
    # Only the caller's own rows.
    assert [i["courseId"] for i in (await my_enrollments(api, other))["items"]] == [courses[0][0]["id"]]
    bad = await api.get("me/enrollments", params={"cursor": "garbage!"}, headers=student.headers)
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")


async def test_leaving_a_free_course_ends_access_at_once_and_a_return_finds_the_progress(api, actor, stack):
    tutor, student, admin = await actor("tutor"), await actor("student"), await actor("admin")
    course, lesson = await published_course(api, tutor)
    finished = await add_lesson(api, tutor, course["id"], title="Short", durationSeconds=60)
    await enrol(api, student, course["id"])
    await complete_offline(api, stack, student, finished)
    klass = await create_class(api, tutor, course["id"])
    await start_class(api, tutor, klass["id"])
    # Warm every path first, so a stale cache entry would be served if the leave missed it.
    assert (await api.get(f"lessons/{lesson['id']}", headers=student.headers)).status_code == 200
    assert (await api.get(f"lessons/{lesson['id']}/playback", headers=student.headers)).status_code == 200
    assert (await api.put(f"progress/lessons/{lesson['id']}", json=BEAT, headers=student.headers)).status_code in (200, 202)
    assert (await negotiate(api, student, klass["id"])).status_code == 200

    left = await api.delete(f"courses/{course['id']}/enrollments/me", headers=student.headers)
    assert left.status_code == 204, left.text

    assert (await api.get(f"lessons/{lesson['id']}", headers=student.headers)).status_code == 403
    assert (await api.get(f"lessons/{lesson['id']}/playback", headers=student.headers)).status_code == 403
    assert (await api.put(f"progress/lessons/{lesson['id']}", json=BEAT, headers=student.headers)).status_code == 403
    assert (await negotiate(api, student, klass["id"])).status_code == 403
    [row] = (await my_enrollments(api, student))["items"]
    assert (row["status"], row["completedLessons"]) == ("left", 1)
    again = await api.delete(f"courses/{course['id']}/enrollments/me", headers=student.headers)
    assert again.status_code == 404 and again.headers["content-type"].startswith("application/problem+json")
    [audited] = await audit_rows(api, admin, student, "enrollment.ended")
    assert audited["target"] == f"course/{course['id']}/user/{student.user_id}"

    back = await api.post(f"courses/{course['id']}/enrollments", json={}, headers=student.headers)
    assert back.status_code == 201, back.text
    assert (await api.get(f"lessons/{lesson['id']}", headers=student.headers)).status_code == 200
    [row] = (await my_enrollments(api, student))["items"]
    assert (row["status"], row["completedLessons"], row["progressPercent"]) == ("active", 1, 50.0)


async def leave_while_in_class(api, student, course_id: str, class_id: str) -> None:
    """The student leaves the course with a connection open to its running class, which is
    closed at once: membership was checked when the connection opened."""
    async with aiohttp.ClientSession() as session:
        in_class = await join(api, session, student, class_id)
        try:
            assert (await api.delete(f"courses/{course_id}/enrollments/me", headers=student.headers)).status_code == 204
            assert "left" in await in_class.wait_closed()
        finally:
            await in_class.close()


async def test_leaving_closes_the_students_open_connection_to_a_running_class(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    klass = await start_class(api, tutor, (await create_class(api, tutor, course["id"]))["id"])
    await leave_while_in_class(api, student, course["id"], klass["id"])


async def test_leaving_closes_the_connection_even_with_a_year_of_classes_scheduled_after_the_running_one(api, actor):
    """The running class is looked up as running, not among the course's latest-scheduled
    classes: a tutor who scheduled a year of weekly classes ahead has fifty-two after it."""
    tutor, student = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    klass = await start_class(api, tutor, (await create_class(api, tutor, course["id"]))["id"])
    for week in range(1, 53):
        ahead = await api.post("classes", headers=tutor.headers, json={
            "courseId": course["id"], "title": f"Week {week}",
            "scheduledAt": (datetime.now(UTC) + timedelta(weeks=week)).isoformat()})
        assert ahead.status_code == 201, ahead.text
    await leave_while_in_class(api, student, course["id"], klass["id"])


async def test_a_paid_enrolment_cannot_be_left_here_and_access_stays(api, actor):
    tutor, student, admin = await actor("tutor"), await actor("student"), await actor("admin")
    course, lesson = await published_course(api, tutor, price_cents=4900)
    assert (await api.post(f"courses/{course['id']}/enrollments", json={"userId": student.user_id},
                           headers=admin.headers)).status_code == 201
    resp = await api.delete(f"courses/{course['id']}/enrollments/me", headers=student.headers)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "refund" in resp.json()["detail"]
    assert (await api.get(f"lessons/{lesson['id']}", headers=student.headers)).status_code == 200
    assert [i["status"] for i in (await my_enrollments(api, student))["items"]] == ["active"]


async def test_leaving_a_course_one_is_not_enrolled_in_is_404(api, actor):
    tutor, student, other = await actor("tutor"), await actor("student"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol(api, other, course["id"])
    for path in (f"courses/{course['id']}/enrollments/me", f"courses/{uuid.uuid4()}/enrollments/me",
                 "courses/not-a-uuid/enrollments/me"):
        resp = await api.delete(path, headers=student.headers)
        assert resp.status_code == 404, (path, resp.text)
    # Someone else's enrolment is untouched.
    assert [i["status"] for i in (await my_enrollments(api, other))["items"]] == ["active"]
    assert (await api.delete(f"courses/{course['id']}/enrollments/me")).status_code == 401

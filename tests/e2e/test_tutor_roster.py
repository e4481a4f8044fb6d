"""A course's roster for its tutor on the local stack: each enrolled student with progress,
last activity and quiz average; sorted four ways, paged by stable cursors with ties broken
by user id; the tutor's and admins' only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.actors import Actor
from tests.support.content import add_lesson, add_quiz, create_course, enrol, publish
from tests.support.progress import enrolled_earlier

pytestmark = pytest.mark.timeout(120)


async def roster(api, who: Actor, course_id: str, **params) -> dict:
    resp = await api.get(f"courses/{course_id}/students", params=params, headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def every_page(api, who: Actor, course_id: str, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = await roster(api, who, course_id, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            return items


async def watch_to_the_end(api, stack, student: Actor, lesson: dict) -> None:
    await enrolled_earlier(stack.postgres_url, student.user_id, lesson["courseId"], timedelta(hours=3))
    t0 = datetime.now(UTC) - timedelta(hours=2)
    events = [
        {"lessonId": lesson["id"], "positionSeconds": w, "watchedSeconds": w, "durationSeconds": 60,
         "clientTime": (t0 + timedelta(seconds=w)).isoformat()}
        for w in range(0, 61, 5)
    ]
    resp = await api.post("progress/sync", json={"events": events}, headers=student.headers)
    assert resp.status_code == 200 and not resp.json()["refused"], resp.text


async def answer(api, student: Actor, quiz_id: str, answers) -> None:
    headers = {**student.headers, "Idempotency-Key": uuid.uuid4().hex}
    resp = await api.post(f"quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=headers)
    assert resp.status_code == 201, resp.text


async def test_the_roster_shows_each_student_s_progress_activity_and_quiz_average(api, actor, stack):
    tutor, admin = await actor("tutor"), await actor("admin")
    course = await create_course(api, tutor)
    video = await add_lesson(api, tutor, course["id"], title="Video", durationSeconds=60)
    await add_lesson(api, tutor, course["id"], title="Notes", kind="document")
    first = await add_quiz(api, tutor, course["id"])  # one point
    second = await add_quiz(api, tutor, course["id"])
    heavy = await add_lesson(api, tutor, course["id"], title="Heavy quiz", kind="quiz")
    worth_four = await api.post("quizzes", headers=tutor.headers, json={
        "lessonId": heavy["id"], "title": "Four points",
        "questions": [{"prompt": "2+2?", "options": ["3", "4"], "correct": [1], "points": 4}]})
    assert worth_four.status_code == 201, worth_four.text
    await publish(api, tutor, course["id"])
    busy, idle = await actor("student", name="Busy"), await actor("student", name="Idle")
    for s in (busy, idle):
        await enrol(api, s, course["id"])
    await watch_to_the_end(api, stack, busy, video)
    await answer(api, busy, first["id"], [[0]])  # wrong: 0 of 1
    await answer(api, busy, first["id"], [[1]])  # right: the best counts, 1 of 1
    await answer(api, busy, second["id"], [[0]])  # 0 of 1
    await answer(api, busy, worth_four.json()["id"], [[1]])  # 4 of 4: a percentage, not points

    page = await roster(api, tutor, course["id"], sort="name")
    assert [s["name"] for s in page["items"]] == ["Busy", "Idle"] and page["nextCursor"] is None
    b, i = page["items"]
    assert b["id"] == busy.user_id
    # The video watched to the end, and the two quiz lessons whose quiz the best attempt passed
    # (completion by lesson kind); the failed quiz's lesson and the unopened notes are not.
    assert (b["completedLessons"], b["totalLessons"], b["progressPercent"]) == (3, 5, 60.0)
    assert b["quizzesAttempted"] == 3 and b["averageQuizScore"] == 66.7  # (100 + 0 + 100) / 3
    assert datetime.fromisoformat(b["lastActivity"]) > datetime.now(UTC) - timedelta(minutes=5)
    assert datetime.fromisoformat(b["enrolledAt"]) < datetime.now(UTC) - timedelta(hours=2)
    assert (i["completedLessons"], i["progressPercent"], i["quizzesAttempted"]) == (0, 0.0, 0)
    assert i["averageQuizScore"] is None and i["lastActivity"] is None

    by_activity = await roster(api, admin, course["id"], sort="lastActivity", order="desc")
    assert [s["name"] for s in by_activity["items"]] == ["Busy", "Idle"]
    by_progress = await roster(api, admin, course["id"], sort="progress", order="asc")
    assert [s["name"] for s in by_progress["items"]] == ["Idle", "Busy"]


async def test_roster_pages_are_stable_when_students_tie_and_keep_to_their_sort(api, actor):
    tutor = await actor("tutor")
    course = await create_course(api, tutor)
    await add_lesson(api, tutor, course["id"], title="Notes", kind="document")
    await publish(api, tutor, course["id"])
    # Five students tie on every figure but the name; two share a name too.
    students = [await actor("student", name=n) for n in ("Ann", "Bo", "Bo", "Cy", "Di")]
    for s in students:
        await enrol(api, s, course["id"])
    ids = sorted(s.user_id for s in students)

    for order in ("asc", "desc"):
        for sort in ("progress", "lastActivity"):
            got = [s["id"] for s in await every_page(api, tutor, course["id"], sort=sort, order=order, limit=2)]
            assert got == (ids if order == "asc" else list(reversed(ids))), (sort, order)
    by_name = await every_page(api, tutor, course["id"], sort="name", limit=2)
    bos = sorted(s.user_id for s in students if s.name == "Bo")
    assert [s["name"] for s in by_name] == ["Ann", "Bo", "Bo", "Cy", "Di"]
    assert [s["id"] for s in by_name[1:3]] == bos
    by_enrolment = await every_page(api, tutor, course["id"], sort="enrolledAt", order="desc", limit=3)
    assert [s["id"] for s in by_enrolment] == [s.user_id for s in reversed(students)]

    first = await roster(api, tutor, course["id"], sort="name", limit=2)
    switched = await api.get(f"courses/{course['id']}/students", headers=tutor.headers,
                             params={"sort": "progress", "limit": 2, "cursor": first["nextCursor"]})
    assert switched.status_code == 400 and switched.json()["errors"][0]["field"] == "cursor"
    # The same sort in the other direction: the key would parse, the page would be wrong.
    ascending = await roster(api, tutor, course["id"], sort="progress", order="asc", limit=2)
    reversed_ = await api.get(f"courses/{course['id']}/students", headers=tutor.headers,
                              params={"sort": "progress", "order": "desc", "limit": 2, "cursor": ascending["nextCursor"]})
    assert reversed_.status_code == 400 and reversed_.json()["errors"][0]["field"] == "cursor"
    forged = await api.get(f"courses/{course['id']}/students", headers=tutor.headers, params={"cursor": "bm90LWpzb24"})
    assert forged.status_code == 400
    bad_sort = await api.get(f"courses/{course['id']}/students", headers=tutor.headers, params={"sort": "email"})
    assert bad_sort.status_code == 400


async def test_only_the_course_s_tutor_and_admins_see_its_roster(api, actor):
    owner, other_tutor, student = await actor("tutor"), await actor("tutor"), await actor("student")
    course = await create_course(api, owner)
    await publish(api, owner, course["id"])
    await enrol(api, student, course["id"])
    for intruder in (other_tutor, student):
        resp = await api.get(f"courses/{course['id']}/students", headers=intruder.headers)
        assert resp.status_code == 403, resp.text
    assert (await api.get(f"courses/{course['id']}/students")).status_code == 401
    assert (await api.get(f"courses/{uuid.uuid4()}/students", headers=owner.headers)).status_code == 404

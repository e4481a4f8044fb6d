"""Tutor tools for lessons on the local stack: reorder a course's lessons in one call,
delete a lesson with its progress and quiz. The cached course and lesson reads show each
change at once, each change is audited, and a student's course progress counts only the
lessons that exist."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.actors import Actor
from tests.support.content import add_lesson, add_quiz, audit_rows, create_course, enrol, publish
from tests.support.progress import enrolled_earlier

pytestmark = pytest.mark.timeout(120)


async def course_with_lessons(api, tutor: Actor, count: int) -> tuple[dict, list[dict]]:
    course = await create_course(api, tutor)
    lessons = [await add_lesson(api, tutor, course["id"], title=f"L{i}", kind="document") for i in range(count)]
    await publish(api, tutor, course["id"])
    return course, lessons


async def order_of(api, who: Actor, course_id: str) -> list[tuple[str, int]]:
    resp = await api.get(f"courses/{course_id}", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return [(lesson["id"], lesson["position"]) for lesson in resp.json()["lessons"]]


async def reorder(api, who: Actor, course_id: str, ids: list[str]):
    return await api.put(f"courses/{course_id}/lessons/order", json={"lessonIds": ids}, headers=who.headers)


async def complete_offline(api, stack, student: Actor, lesson: dict) -> None:
    """Watches a 60-second lesson to the end through the offline queue (enrolled for a while)."""
    await enrolled_earlier(stack.postgres_url, student.user_id, lesson["courseId"], timedelta(hours=3))
    t0 = datetime.now(UTC) - timedelta(hours=2)
    events = [
        {"lessonId": lesson["id"], "positionSeconds": w, "watchedSeconds": w, "durationSeconds": 60,
         "clientTime": (t0 + timedelta(seconds=w)).isoformat()}
        for w in range(0, 61, 5)
    ]
    resp = await api.post("progress/sync", json={"events": events}, headers=student.headers)
    assert resp.status_code == 200 and not resp.json()["refused"], resp.text


async def dashboard_course(api, student: Actor, course_id: str) -> dict:
    resp = await api.get("me/dashboard", headers=student.headers)
    assert resp.status_code == 200, resp.text
    [course] = [c for c in resp.json()["courses"] if c["courseId"] == course_id]
    return course


# --- reorder ---------------------------------------------------------------------------
async def test_a_reorder_shows_in_the_cached_course_and_lesson_reads_at_once_and_is_audited(api, actor):
    tutor, student, admin = await actor("tutor"), await actor("student"), await actor("admin")
    course, lessons = await course_with_lessons(api, tutor, 4)
    await enrol(api, student, course["id"])
    ids = [lesson["id"] for lesson in lessons]
    # Warm the cache the way readers do: the course detail and one lesson.
    assert await order_of(api, student, course["id"]) == [(i, n) for n, i in enumerate(ids)]
    assert (await api.get(f"lessons/{ids[3]}", headers=student.headers)).json()["position"] == 3

    new = [ids[3], ids[1], ids[0], ids[2]]
    resp = await reorder(api, tutor, course["id"], new)
    assert resp.status_code == 200, resp.text
    assert [(lesson["id"], lesson["position"]) for lesson in resp.json()["lessons"]] == [(i, n) for n, i in enumerate(new)]

    assert await order_of(api, student, course["id"]) == [(i, n) for n, i in enumerate(new)]
    assert (await api.get(f"lessons/{ids[3]}", headers=student.headers)).json()["position"] == 0
    assert (await api.get(f"lessons/{ids[2]}", headers=student.headers)).json()["position"] == 3

    [row] = await audit_rows(api, admin, tutor, "lesson.reordered")
    assert row["target"] == f"course/{course['id']}"
    assert row["details"]["before"] == {"lessonIds": ids} and row["details"]["after"] == {"lessonIds": new}

    # An admin may reorder any course.
    back = await reorder(api, admin, course["id"], ids)
    assert back.status_code == 200, back.text
    assert await order_of(api, student, course["id"]) == [(i, n) for n, i in enumerate(ids)]


async def test_an_order_with_a_gap_a_duplicate_or_a_foreign_lesson_is_refused_with_field_errors(api, actor):
    tutor = await actor("tutor")
    course, lessons = await course_with_lessons(api, tutor, 3)
    _, foreign = await course_with_lessons(api, tutor, 1)
    a, b, c = (lesson["id"] for lesson in lessons)
    before = await order_of(api, tutor, course["id"])

    gap = await reorder(api, tutor, course["id"], [c, a])
    assert gap.status_code == 422, gap.text
    assert gap.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"] == "lessonIds" and b in e["message"] for e in gap.json()["errors"]), gap.json()

    twice = await reorder(api, tutor, course["id"], [c, a, a, b])
    assert twice.status_code == 422
    assert any(e["field"] == "lessonIds" and a in e["message"] for e in twice.json()["errors"]), twice.json()

    swapped_in = await reorder(api, tutor, course["id"], [c, a, foreign[0]["id"]])
    assert swapped_in.status_code == 422
    fields = {e["field"] for e in swapped_in.json()["errors"]}
    assert "lessonIds[2]" in fields and "lessonIds" in fields  # the stranger, and b left out

    unknown = await reorder(api, tutor, course["id"], [a, b, c, str(uuid.uuid4())])
    assert unknown.status_code == 422
    assert (await reorder(api, tutor, course["id"], [])).status_code == 422
    assert (await reorder(api, tutor, course["id"], ["not-a-uuid"])).status_code == 400
    malformed = await api.put(f"courses/{course['id']}/lessons/order", json={"lessonIds": "a,b"}, headers=tutor.headers)
    assert malformed.status_code == 400

    assert await order_of(api, tutor, course["id"]) == before


async def test_students_and_other_tutors_cannot_reorder_or_delete_a_course_s_lessons(api, actor):
    owner, other_tutor, student = await actor("tutor"), await actor("tutor"), await actor("student")
    course, lessons = await course_with_lessons(api, owner, 2)
    await enrol(api, student, course["id"])
    ids = [lesson["id"] for lesson in lessons]
    before = await order_of(api, owner, course["id"])

    for intruder in (other_tutor, student):
        refused = await reorder(api, intruder, course["id"], list(reversed(ids)))
        assert refused.status_code == 403, (intruder.roles, refused.text)
        gone = await api.delete(f"lessons/{ids[0]}", headers=intruder.headers)
        assert gone.status_code == 403, (intruder.roles, gone.text)
    # A student who calls the tutor's endpoint with a forged body gets the same 403.
    forged = await api.put(f"courses/{course['id']}/lessons/order", json={"lessonIds": ids, "courseId": course["id"]},
                           headers=student.headers)
    assert forged.status_code == 403
    assert (await api.delete(f"lessons/{ids[0]}")).status_code == 401
    assert await order_of(api, owner, course["id"]) == before


# --- delete ----------------------------------------------------------------------------
async def test_deleting_a_lesson_closes_up_positions_and_course_progress_counts_only_what_remains(api, actor, stack):
    tutor, student, admin = await actor("tutor"), await actor("student"), await actor("admin")
    course = await create_course(api, tutor)
    watched = await add_lesson(api, tutor, course["id"], title="Watched", durationSeconds=60)
    kept = await add_lesson(api, tutor, course["id"], title="Kept", kind="document")
    last = await add_lesson(api, tutor, course["id"], title="Last", kind="document")
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    await complete_offline(api, stack, student, watched)
    before = await dashboard_course(api, student, course["id"])
    assert (before["completedLessons"], before["totalLessons"]) == (1, 3)
    await order_of(api, student, course["id"])  # cached
    assert (await api.get(f"lessons/{last['id']}", headers=student.headers)).json()["position"] == 2

    gone = await api.delete(f"lessons/{watched['id']}", headers=tutor.headers)
    assert gone.status_code == 204, gone.text

    assert await order_of(api, student, course["id"]) == [(kept["id"], 0), (last["id"], 1)]
    assert (await api.get(f"lessons/{last['id']}", headers=student.headers)).json()["position"] == 1
    assert (await api.get(f"lessons/{watched['id']}", headers=student.headers)).status_code == 404
    beat = {"positionSeconds": 1, "watchedSeconds": 1, "durationSeconds": 60}
    assert (await api.put(f"progress/lessons/{watched['id']}", json=beat, headers=student.headers)).status_code == 404
    # The completion went with its lesson: 0 of the 2 lessons that exist, at once.
    after = await dashboard_course(api, student, course["id"])
    assert (after["completedLessons"], after["totalLessons"]) == (0, 2)
    roster = (await api.get(f"courses/{course['id']}/students", headers=tutor.headers)).json()["items"]
    assert [(s["completedLessons"], s["totalLessons"], s["progressPercent"]) for s in roster] == [(0, 2, 0.0)]

    [row] = await audit_rows(api, admin, tutor, "lesson.deleted")
    assert row["target"] == f"lesson/{watched['id']}"
    assert row["details"]["before"]["title"] == "Watched" and row["details"]["before"]["position"] == 0
    assert row["details"]["after"] is None
    assert row["details"]["removed"]["completions"] == 1
    assert (await api.delete(f"lessons/{watched['id']}", headers=tutor.headers)).status_code == 404


async def test_deleting_a_quiz_lesson_takes_its_points_off_the_leaderboard(api, actor):
    tutor, student, admin = await actor("tutor"), await actor("student"), await actor("admin")
    course = await create_course(api, tutor)
    await publish(api, tutor, course["id"])
    kept_quiz, dropped_quiz = await add_quiz(api, tutor, course["id"]), await add_quiz(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    for quiz in (kept_quiz, dropped_quiz):
        headers = {**student.headers, "Idempotency-Key": uuid.uuid4().hex}
        graded = await api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": [[1]]}, headers=headers)
        assert graded.status_code == 201, graded.text
    board = await api.get(f"courses/{course['id']}/leaderboard", headers=student.headers)
    assert board.json()["me"]["points"] == 2, board.text

    gone = await api.delete(f"lessons/{dropped_quiz['lessonId']}", headers=admin.headers)
    assert gone.status_code == 204, gone.text

    board = await api.get(f"courses/{course['id']}/leaderboard", headers=student.headers)
    assert board.json()["me"]["points"] == 1, board.text
    assert (await api.get(f"quizzes/{dropped_quiz['id']}", headers=student.headers)).status_code == 404
    roster = (await api.get(f"courses/{course['id']}/students", headers=tutor.headers)).json()["items"]
    assert roster[0]["quizzesAttempted"] == 1 and roster[0]["averageQuizScore"] == 100.0
    [row] = await audit_rows(api, admin, admin, "lesson.deleted")
    assert row["details"]["removed"]["quizzes"] == 1 and row["details"]["removed"]["quizAttempts"] == 1

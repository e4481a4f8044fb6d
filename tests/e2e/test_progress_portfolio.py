"""Leaderboards, the dashboard and course analytics through the HTTP API on the local stack."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.actors import Actor
from tests.support.content import add_lesson, create_course, enrol, publish
from tests.support.progress import enrolled_earlier

pytestmark = pytest.mark.timeout(90)

QUESTIONS = [
    {"prompt": "2 + 2?", "options": ["3", "4", "5"], "correct": [1], "points": 1},
    {"prompt": "Which are primes?", "options": ["2", "4", "5", "9"], "correct": [0, 2], "points": 2},
    {"prompt": "Capital of France?", "options": ["Paris", "Rome"], "correct": [0], "points": 3},
]
ALL_RIGHT = [[1], [0, 2], [0]]  # 6 points
LAST_ONLY = [[0], [], [0]]  # 3
FIRST_TWO = [[1], [0, 2], [1]]  # 3
FIRST_ONLY = [[1], [], [1]]  # 1


async def add_quiz(api, tutor: Actor, course_id: str, questions=QUESTIONS) -> dict:
    lesson = await add_lesson(api, tutor, course_id, title="Quiz", kind="quiz")
    resp = await api.post("quizzes", json={"lessonId": lesson["id"], "title": "Quiz", "questions": questions}, headers=tutor.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def attempt(api, student: Actor, quiz_id: str, answers) -> dict:
    headers = {**student.headers, "Idempotency-Key": uuid.uuid4().hex}
    resp = await api.post(f"quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def watch_offline(api, stack, student: Actor, lesson: dict, seconds: int, duration: int) -> dict:
    """Plays `seconds` of a lesson offline, five seconds per queued event, then syncs (as a
    student enrolled for a while: offline viewing before the enrolment does not count)."""
    await enrolled_earlier(stack.postgres_url, student.user_id, lesson["courseId"], timedelta(hours=3))
    t0 = datetime.now(UTC) - timedelta(hours=2)
    events = [
        {"lessonId": lesson["id"], "positionSeconds": w, "watchedSeconds": w, "durationSeconds": duration,
         "clientTime": (t0 + timedelta(seconds=w)).isoformat()}
        for w in range(0, seconds + 1, 5)
    ]
    resp = await api.post("progress/sync", json={"events": events}, headers=student.headers)
    assert resp.status_code == 200 and not resp.json()["refused"], resp.text
    return resp.json()


async def board(api, who: Actor, course_id: str, limit: int):
    return await api.get(f"courses/{course_id}/leaderboard", params={"limit": limit}, headers=who.headers)


async def test_leaderboard_ranks_ties_together_and_shows_the_caller_outside_the_top(api, actor):
    tutor, admin, stranger = await actor("tutor"), await actor("admin"), await actor("student")
    course = await create_course(api, tutor)
    await publish(api, tutor, course["id"])
    quiz = await add_quiz(api, tutor, course["id"])
    a, b, c, d, e = [await actor("student", name=n) for n in ("Ada", "Bea", "Cy", "Dee", "Eve")]
    for s in (a, b, c, d, e):
        await enrol(api, s, course["id"])
    await asyncio.gather(
        attempt(api, a, quiz["id"], ALL_RIGHT),
        attempt(api, b, quiz["id"], LAST_ONLY),
        attempt(api, c, quiz["id"], FIRST_TWO),
        attempt(api, d, quiz["id"], FIRST_ONLY),
    )

    top3 = (await board(api, d, course["id"], 3)).json()
    assert [(i["points"], i["rank"]) for i in top3["items"]] == [(6, 1), (3, 2), (3, 2)]
    assert top3["items"][0] == {"userId": a.user_id, "name": "Ada", "points": 6, "rank": 1}
    assert {i["userId"] for i in top3["items"][1:]} == {b.user_id, c.user_id}
    assert top3["me"] == {"userId": d.user_id, "name": "Dee", "points": 1, "rank": 4}
    assert top3["participants"] == 4

    top1 = (await board(api, c, course["id"], 1)).json()
    assert [i["userId"] for i in top1["items"]] == [a.user_id]
    assert top1["me"]["rank"] == 2 and top1["me"]["points"] == 3

    newcomer = (await board(api, e, course["id"], 10)).json()
    assert newcomer["me"] == {"userId": e.user_id, "name": "Eve", "points": 0, "rank": 5}
    assert (await board(api, tutor, course["id"], 10)).json()["me"] is None
    assert (await board(api, admin, course["id"], 10)).status_code == 200
    assert (await board(api, stranger, course["id"], 10)).status_code == 403
    assert (await board(api, d, str(uuid.uuid4()), 10)).status_code == 404
    assert (await board(api, d, course["id"], 0)).status_code == 400

    # Points are the best score per quiz, summed: a worse retake changes nothing, another quiz adds.
    await attempt(api, b, quiz["id"], FIRST_ONLY)
    assert (await board(api, b, course["id"], 10)).json()["me"]["points"] == 3
    second = await add_quiz(api, tutor, course["id"], [{"prompt": "Sure?", "options": ["yes", "no"], "correct": [0], "points": 5}])
    await attempt(api, b, second["id"], [[0]])
    after = (await board(api, b, course["id"], 10)).json()
    assert after["me"] == {"userId": b.user_id, "name": "Bea", "points": 8, "rank": 1}
    assert [(i["userId"], i["rank"]) for i in after["items"][:2]] == [(b.user_id, 1), (a.user_id, 2)]


async def test_dashboard_follows_every_change_that_affects_it(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    video = await add_lesson(api, tutor, course["id"], title="Intro", durationSeconds=10)
    await publish(api, tutor, course["id"])
    quiz = await add_quiz(api, tutor, course["id"])
    when = datetime.now(UTC) + timedelta(hours=1)
    klass = await api.post(
        "classes", json={"courseId": course["id"], "title": "Q&A", "scheduledAt": when.isoformat()}, headers=tutor.headers
    )
    assert klass.status_code == 201, klass.text

    empty = await api.get("me/dashboard", headers=student.headers)
    assert empty.status_code == 200 and empty.json()["courses"] == []
    assert empty.json()["userId"] == student.user_id

    await enrol(api, student, course["id"])
    (entry,) = (await api.get("me/dashboard", headers=student.headers)).json()["courses"]
    assert entry["courseId"] == course["id"] and entry["title"] == course["title"]
    assert (entry["progressPercent"], entry["completedLessons"], entry["totalLessons"]) == (0.0, 0, 2)
    assert entry["recentQuizResults"] == [] and entry["points"] == 0 and entry["rank"] == 1
    assert [(c["id"], c["status"]) for c in entry["upcomingClasses"]] == [(klass.json()["id"], "scheduled")]

    url = f"progress/lessons/{video['id']}"
    await api.put(url, json={"positionSeconds": 5, "watchedSeconds": 5, "durationSeconds": 10}, headers=student.headers)
    await asyncio.sleep(3.0)  # the player plays on: 3 s × 1.5 pays for the next 4.5 s
    done = await api.put(url, json={"positionSeconds": 9.5, "watchedSeconds": 9.5, "durationSeconds": 10}, headers=student.headers)
    assert done.status_code == 200
    (entry,) = (await api.get("me/dashboard", headers=student.headers)).json()["courses"]
    assert (entry["progressPercent"], entry["completedLessons"]) == (50.0, 1)

    graded = await attempt(api, student, quiz["id"], FIRST_TWO)
    (entry,) = (await api.get("me/dashboard", headers=student.headers)).json()["courses"]
    assert [(r["attemptId"], r["score"], r["maxScore"]) for r in entry["recentQuizResults"]] == [(graded["attemptId"], 3, 6)]
    assert (entry["points"], entry["rank"]) == (3, 1)

    tutor_view = await api.get("me/dashboard", headers=tutor.headers)
    assert tutor_view.status_code == 200 and tutor_view.json()["courses"] == []
    assert (await api.get("me/dashboard")).status_code == 401


async def test_course_analytics_shows_the_funnel_scores_and_classes_to_its_tutor(api, actor, stack):
    tutor, other_tutor, admin = await actor("tutor"), await actor("tutor"), await actor("admin")
    course = await create_course(api, tutor)
    first = await add_lesson(api, tutor, course["id"], title="First", durationSeconds=60)
    second = await add_lesson(api, tutor, course["id"], title="Second", durationSeconds=60)
    await publish(api, tutor, course["id"])
    quiz = await add_quiz(api, tutor, course["id"])
    when = datetime.now(UTC) + timedelta(days=1)
    klass = await api.post(
        "classes", json={"courseId": course["id"], "title": "Review", "scheduledAt": when.isoformat()}, headers=tutor.headers
    )
    assert klass.status_code == 201, klass.text
    s1, s2, s3 = [await actor("student") for _ in range(3)]
    for s in (s1, s2, s3):
        await enrol(api, s, course["id"])
    await watch_offline(api, stack, s1, first, 60, 60)  # completes
    await watch_offline(api, stack, s2, first, 20, 60)  # starts
    await attempt(api, s1, quiz["id"], ALL_RIGHT)  # 100 %
    await attempt(api, s2, quiz["id"], FIRST_ONLY)  # 17 %
    await attempt(api, s2, quiz["id"], LAST_ONLY)  # 50 %, the best of s2
    await attempt(api, s3, quiz["id"], FIRST_ONLY)  # 17 %

    resp = await api.get(f"courses/{course['id']}/analytics", headers=tutor.headers)
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["enrolledStudents"] == 3
    funnel = {row["lessonId"]: row for row in report["lessons"]}
    assert (funnel[first["id"]]["started"], funnel[first["id"]]["completed"], funnel[first["id"]]["completionRate"]) == (2, 1, 0.5)
    assert (funnel[second["id"]]["started"], funnel[second["id"]]["completed"]) == (0, 0)
    assert [row["title"] for row in report["lessons"]] == ["First", "Second", "Quiz"]
    (scores,) = report["quizzes"]
    assert scores["quizId"] == quiz["id"] and scores["students"] == 3
    assert [b["students"] for b in scores["buckets"]] == [0, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    (listed,) = report["classes"]
    assert listed["classId"] == klass.json()["id"] and listed["attendees"] == 0

    assert (await api.get(f"courses/{course['id']}/analytics", headers=admin.headers)).status_code == 200
    assert (await api.get(f"courses/{course['id']}/analytics", headers=other_tutor.headers)).status_code == 403
    assert (await api.get(f"courses/{course['id']}/analytics", headers=s1.headers)).status_code == 403
    assert (await api.get(f"courses/{uuid.uuid4()}/analytics", headers=tutor.headers)).status_code == 404


async def test_course_analytics_keeps_the_held_classes_when_a_year_is_scheduled_ahead(api, actor):
    tutor = await actor("tutor")
    course = await create_course(api, tutor)
    await add_lesson(api, tutor, course["id"], title="Only", durationSeconds=60)
    await publish(api, tutor, course["id"])

    async def scheduled(title: str, when: datetime) -> str:
        made = await api.post("classes", json={"courseId": course["id"], "title": title, "scheduledAt": when.isoformat()},
                              headers=tutor.headers)
        assert made.status_code == 201, made.text
        return made.json()["id"]

    held = await scheduled("Held", datetime.now(UTC) - timedelta(minutes=5))
    assert (await api.post(f"classes/{held}/start", headers=tutor.headers)).status_code == 200
    assert (await api.post(f"classes/{held}/end", headers=tutor.headers)).status_code == 200
    ahead = [await scheduled(f"Week {w}", datetime.now(UTC) + timedelta(weeks=w)) for w in range(1, 53)]

    resp = await api.get(f"courses/{course['id']}/analytics", headers=tutor.headers)
    assert resp.status_code == 200, resp.text
    listed = [row["classId"] for row in resp.json()["classes"]]
    # The next five scheduled, newest first, then the one that was held.
    assert listed == [*reversed(ahead[:5]), held]

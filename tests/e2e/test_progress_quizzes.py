"""Quizzes through the HTTP API: written by the course's tutor, answered by enrolled
students, graded on the server with idempotent submits, an attempt cap and a
`quiz.graded` push over a real WebSocket."""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest

from tests.support.actors import Actor
from tests.support.content import add_lesson, create_course, enrol, eventually, publish
from tests.support.live import connect_personal

pytestmark = pytest.mark.timeout(90)

QUESTIONS = [
    {"prompt": "2 + 2?", "options": ["3", "4", "5"], "correct": [1], "points": 1},
    {"prompt": "Which are primes?", "options": ["2", "4", "5", "9"], "correct": [0, 2], "points": 2},
    {"prompt": "Capital of France?", "options": ["Paris", "Rome"], "correct": [0], "points": 3},
]


async def course_with_quiz(api, tutor: Actor, **quiz_fields) -> tuple[dict, dict]:
    course = await create_course(api, tutor)
    lesson = await add_lesson(api, tutor, course["id"], title="Check yourself", kind="quiz")
    await publish(api, tutor, course["id"])
    resp = await api.post(
        "quizzes", json={"lessonId": lesson["id"], "title": "Basics", "questions": QUESTIONS, **quiz_fields},
        headers=tutor.headers,
    )
    assert resp.status_code == 201, resp.text
    return course, resp.json()


async def submit(api, student: Actor, quiz_id: str, answers, key: str | None = None):
    headers = dict(student.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.post(f"quizzes/{quiz_id}/attempts", json={"answers": answers}, headers=headers)


async def test_the_tutor_gets_the_keys_and_students_never_see_them(api, actor):
    tutor, student, stranger = await actor("tutor"), await actor("student"), await actor("student")
    course, quiz = await course_with_quiz(api, tutor, maxAttempts=2)
    assert quiz["maxScore"] == 6 and quiz["maxAttempts"] == 2 and quiz["courseId"] == course["id"]
    assert [q["correct"] for q in quiz["questions"]] == [[1], [0, 2], [0]]
    assert [q["multiple"] for q in quiz["questions"]] == [False, True, False]

    await enrol(api, student, course["id"])
    seen = await api.get(f"quizzes/{quiz['id']}", headers=student.headers)
    assert seen.status_code == 200
    body = seen.json()
    assert "correct" not in json.dumps(body), "answer keys never reach a student"
    assert [q["multiple"] for q in body["questions"]] == [False, True, False]
    assert body["attemptsUsed"] == 0 and body["maxAttempts"] == 2

    assert (await api.get(f"quizzes/{quiz['id']}", headers=tutor.headers)).status_code == 200
    assert (await api.get(f"quizzes/{quiz['id']}", headers=stranger.headers)).status_code == 403
    assert (await api.get(f"quizzes/{uuid.uuid4()}", headers=student.headers)).status_code == 404


async def test_only_the_owning_tutor_or_an_admin_adds_quizzes_with_valid_keys(api, actor):
    tutor, other_tutor, admin, student = await actor("tutor"), await actor("tutor"), await actor("admin"), await actor("student")
    course = await create_course(api, tutor)
    lesson = await add_lesson(api, tutor, course["id"], kind="quiz")
    body = {"lessonId": lesson["id"], "title": "Q", "questions": QUESTIONS}
    assert (await api.post("quizzes", json=body, headers=other_tutor.headers)).status_code == 404  # a draft of someone else
    await publish(api, tutor, course["id"])
    assert (await api.post("quizzes", json=body, headers=other_tutor.headers)).status_code == 403
    assert (await api.post("quizzes", json=body, headers=student.headers)).status_code == 403
    assert (await api.post("quizzes", json=body, headers=admin.headers)).status_code == 201

    bad = {**body, "questions": [{"prompt": "p", "options": ["a", "b"], "correct": [2]}]}
    resp = await api.post("quizzes", json=bad, headers=tutor.headers)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "questions[0].correct"
    assert (await api.post("quizzes", json={**body, "questions": []}, headers=tutor.headers)).status_code == 400
    assert (await api.post("quizzes", json={**body, "lessonId": str(uuid.uuid4())}, headers=tutor.headers)).status_code == 404

    # Creating is retry-safe with an Idempotency-Key.
    headers = {**tutor.headers, "Idempotency-Key": "create-once"}
    first = await api.post("quizzes", json=body, headers=headers)
    again = await api.post("quizzes", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]


async def test_an_attempt_is_graded_once_per_key_and_pushed_to_the_student(api, actor, stack):
    tutor, student = await actor("tutor"), await actor("student")
    course, quiz = await course_with_quiz(api, tutor)
    await enrol(api, student, course["id"])
    answers = [[1], [2, 0], [1]]  # right, right (order does not matter), wrong

    assert (await submit(api, student, quiz["id"], answers)).status_code == 400, "the key is required"

    async with aiohttp.ClientSession() as session:
        socket = await connect_personal(api, session, student)
        try:
            first = await submit(api, student, quiz["id"], answers, key="attempt-1")
            assert first.status_code == 201, first.text
            result = first.json()
            assert (result["score"], result["maxScore"], result["attemptNo"]) == (3, 6, 1)
            assert result["id"] == result["attemptId"]
            assert result["perQuestion"] == [
                {"index": 0, "correct": True, "points": 1, "awarded": 1},
                {"index": 1, "correct": True, "points": 2, "awarded": 2},
                {"index": 2, "correct": False, "points": 3, "awarded": 0},
            ]
            pushed = await socket.wait_for(lambda m: m.get("type") == "quiz.graded")
            assert pushed["attemptId"] == result["attemptId"] and pushed["score"] == 3 and pushed["maxScore"] == 6
            assert pushed["quizId"] == quiz["id"] and pushed["courseId"] == course["id"]
        finally:
            await socket.close()

    # The response was lost; the client retries with the same key and body.
    retried = await submit(api, student, quiz["id"], answers, key="attempt-1")
    assert retried.status_code == 201
    assert retried.json() == result
    assert retried.headers.get("Idempotent-Replayed") == "true"

    conflict = await submit(api, student, quiz["id"], [[1], [0, 2], [0]], key="attempt-1")
    assert conflict.status_code == 409

    seen = await api.get(f"quizzes/{quiz['id']}", headers=student.headers)
    assert seen.json()["attemptsUsed"] == 1, "the retry did not make a second attempt"

    async def logged():
        resp = await api.get("me/changes", headers=student.headers)
        kinds = sorted(c["kind"] for c in resp.json()["items"])
        return kinds if len(kinds) >= 2 else None

    assert await eventually(logged) == ["leaderboard.changed", "quiz.attempted"]


async def test_attempts_stop_at_the_quiz_cap(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, quiz = await course_with_quiz(api, tutor, maxAttempts=2)
    await enrol(api, student, course["id"])
    assert (await submit(api, student, quiz["id"], [[0], [], [1]], key="a")).json()["score"] == 0
    second = await submit(api, student, quiz["id"], [[1], [0, 2], [0]], key="b")
    assert second.status_code == 201 and second.json()["score"] == 6 and second.json()["attemptNo"] == 2
    third = await submit(api, student, quiz["id"], [[1], [0, 2], [0]], key="c")
    assert third.status_code == 422
    assert third.json()["title"] == "Attempt limit reached"
    # a retry of an attempt that was stored still answers with it
    assert (await submit(api, student, quiz["id"], [[1], [0, 2], [0]], key="b")).status_code == 201


async def test_answers_must_fit_the_quiz_and_only_enrolled_students_answer(api, actor):
    tutor, student, stranger, admin = await actor("tutor"), await actor("student"), await actor("student"), await actor("admin")
    course, quiz = await course_with_quiz(api, tutor)
    await enrol(api, student, course["id"])
    wrong_count = await submit(api, student, quiz["id"], [[1]], key="k1")
    assert wrong_count.status_code == 422 and wrong_count.json()["errors"][0]["field"] == "answers"
    out_of_range = await submit(api, student, quiz["id"], [[7], [], []], key="k2")
    assert out_of_range.status_code == 422 and out_of_range.json()["errors"][0]["field"] == "answers[0]"
    two_on_single = await submit(api, student, quiz["id"], [[0, 1], [], []], key="k3")
    assert two_on_single.status_code == 422
    assert (await submit(api, student, quiz["id"], "all of them", key="k4")).status_code == 400

    assert (await submit(api, stranger, quiz["id"], [[1], [], []], key="k")).status_code == 403
    assert (await submit(api, tutor, quiz["id"], [[1], [], []], key="k")).status_code == 403
    assert (await submit(api, admin, quiz["id"], [[1], [], []], key="k")).status_code == 403
    assert (await submit(api, student, str(uuid.uuid4()), [[1], [], []], key="k")).status_code == 404

"""Tutor tools for quizzes on the local stack: editing a quiz (title, pass mark and attempt
limit at any time, questions and keys only until a student attempts it) and deleting one
(its attempts and leaderboard points go, completions stay). Each change is audited with the
quiz before and after; students, other tutors and a tutor whose course was taken down
change nothing."""

from __future__ import annotations

import pytest

from tests.support.actors import Actor
from tests.support.completion import (
    ALL_RIGHT,
    ONE_RIGHT,
    QUESTIONS,
    TWO_RIGHT,
    attempt,
    course_entry,
    lesson_completions,
    quiz_lesson,
    rendered_certificate,
)
from tests.support.content import audit_rows, create_course, enrol, eventually, publish

pytestmark = pytest.mark.timeout(120)

NEW_QUESTIONS = [
    {"prompt": "5 + 5?", "options": ["10", "11"], "correct": [0], "points": 2},
    {"prompt": "Even numbers?", "options": ["2", "3", "4"], "correct": [0, 2], "points": 3},
]


async def course_with_quiz(api, tutor: Actor, **quiz_fields) -> tuple[dict, dict, dict]:
    """A published course of one quiz lesson with its three-question quiz: (course, lesson, quiz)."""
    course = await create_course(api, tutor)
    lesson, quiz = await quiz_lesson(api, tutor, course["id"], **quiz_fields)
    await publish(api, tutor, course["id"])
    return course, lesson, quiz


async def edit(api, who: Actor, quiz_id: str, body: dict):
    return await api.patch(f"quizzes/{quiz_id}", json=body, headers=who.headers)


async def questions_of(api, who: Actor, quiz_id: str) -> list[dict]:
    resp = await api.get(f"quizzes/{quiz_id}", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["questions"]


async def roster_completions(api, tutor: Actor, course_id: str) -> dict[str, int]:
    """Completed lessons per student, as the tutor's roster counts them (no cache in between)."""
    resp = await api.get(f"courses/{course_id}/students", headers=tutor.headers)
    assert resp.status_code == 200, resp.text
    return {s["id"]: s["completedLessons"] for s in resp.json()["items"]}


# --- edits -----------------------------------------------------------------------------
async def test_before_any_attempt_a_tutor_changes_questions_and_keys_and_the_edit_is_audited(api, actor):
    tutor, student, admin = await actor("tutor"), await actor("student"), await actor("admin")
    course, lesson, quiz = await course_with_quiz(api, tutor)
    await enrol(api, student, course["id"])

    resp = await edit(api, tutor, quiz["id"], {"title": "Bigger sums", "questions": NEW_QUESTIONS, "passMarkPercent": 50})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["title"], body["maxScore"], body["passMarkPercent"], body["maxAttempts"]) == ("Bigger sums", 5, 50, 10)
    assert [q["correct"] for q in body["questions"]] == [[0], [0, 2]] and body["questions"][1]["multiple"] is True

    seen = await questions_of(api, student, quiz["id"])
    assert [q["prompt"] for q in seen] == ["5 + 5?", "Even numbers?"] and all("correct" not in q for q in seen)
    graded = await attempt(api, student, quiz["id"], [[0], [0, 2]], "after-edit")
    assert (graded["score"], graded["maxScore"]) == (5, 5)

    [row] = await audit_rows(api, admin, tutor, "quiz.updated")
    assert row["target"] == f"quiz/{quiz['id']}"
    assert row["details"]["courseId"] == course["id"] and row["details"]["lessonId"] == lesson["id"]
    before, after = row["details"]["before"], row["details"]["after"]
    assert (before["title"], before["maxScore"], before["passMarkPercent"]) == ("Sums", 3, 60)
    assert [q["correct"] for q in before["questions"]] == [q["correct"] for q in QUESTIONS]
    assert (after["title"], after["maxScore"], after["passMarkPercent"]) == ("Bigger sums", 5, 50)
    assert [q["correct"] for q in after["questions"]] == [[0], [0, 2]]


async def test_a_key_change_after_a_student_attempted_is_refused_while_title_and_limits_still_change(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, _, quiz = await course_with_quiz(api, tutor)
    await enrol(api, student, course["id"])
    await attempt(api, student, quiz["id"], ONE_RIGHT, "first")

    # The attack: make the student's answers wrong (or right) after the fact by moving the key.
    moved = [dict(q, correct=[1 - q["correct"][0]]) for q in QUESTIONS]
    for questions in (moved, NEW_QUESTIONS, QUESTIONS[:2]):
        resp = await edit(api, tutor, quiz["id"], {"questions": questions, "title": "Sneaky"})
        assert resp.status_code == 409, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["type"].endswith("/quiz-attempted") and "1 attempt" in resp.json()["detail"]
    # Nothing of a refused edit lands, not even its title.
    got = (await api.get(f"quizzes/{quiz['id']}", headers=student.headers)).json()
    assert got["title"] == "Sums" and [q["prompt"] for q in got["questions"]] == [q["prompt"] for q in QUESTIONS]
    assert (await attempt(api, student, quiz["id"], ALL_RIGHT, "second"))["score"] == 3

    # The same questions are no change; title, pass mark and attempt limit change freely.
    resp = await edit(api, tutor, quiz["id"], {"questions": QUESTIONS, "title": "Sums, again", "maxAttempts": 2,
                                               "passMarkPercent": 90})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["title"], resp.json()["maxAttempts"], resp.json()["passMarkPercent"]) == ("Sums, again", 2, 90)
    # Two attempts used: the lowered limit refuses the next one and keeps what was stored.
    third = await api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": ALL_RIGHT},
                           headers={**student.headers, "Idempotency-Key": "third"})
    assert third.status_code == 422, third.text
    assert (await api.get(f"quizzes/{quiz['id']}", headers=student.headers)).json()["attemptsUsed"] == 2


async def test_lowering_the_pass_mark_completes_the_lesson_for_students_whose_best_passes_and_raising_it_uncompletes_nobody(
    api, actor
):
    tutor, passing, failing, bystander = await actor("tutor"), await actor("student"), await actor("student"), await actor("student")
    course, lesson, quiz = await course_with_quiz(api, tutor, passMarkPercent=80)
    for student in (passing, failing, bystander):
        await enrol(api, student, course["id"])
    await attempt(api, passing, quiz["id"], TWO_RIGHT, "two")  # 66 %: below 80
    await attempt(api, failing, quiz["id"], ONE_RIGHT, "one")  # 33 %
    assert await lesson_completions(api, tutor, course["id"], lesson["id"]) == 0
    assert (await course_entry(api, passing, course["id"]))["certificateCode"] is None

    resp = await edit(api, tutor, quiz["id"], {"passMarkPercent": 60})
    assert resp.status_code == 200, resp.text
    assert await lesson_completions(api, tutor, course["id"], lesson["id"]) == 1
    entry = await course_entry(api, passing, course["id"])
    assert (entry["completedLessons"], entry["progressPercent"]) == (1, 100.0)
    assert (await course_entry(api, failing, course["id"]))["completedLessons"] == 0
    assert (await course_entry(api, bystander, course["id"]))["completedLessons"] == 0
    # The course's only lesson: the completion issues the certificate, and the dashboard shows its code.
    certificate = await rendered_certificate(api, passing, course["id"])

    async def code_shown() -> str | None:
        return (await course_entry(api, passing, course["id"]))["certificateCode"]

    assert await eventually(code_shown, timeout=15) == certificate["code"]

    # Raising the mark takes nothing back: completion is never lost.
    resp = await edit(api, tutor, quiz["id"], {"passMarkPercent": 100})
    assert resp.status_code == 200, resp.text
    assert await lesson_completions(api, tutor, course["id"], lesson["id"]) == 1
    assert (await course_entry(api, passing, course["id"]))["completedLessons"] == 1
    assert await roster_completions(api, tutor, course["id"]) == {passing.user_id: 1, failing.user_id: 0, bystander.user_id: 0}
    # And the raised mark holds for those who have not passed: 66 % no longer completes.
    await attempt(api, failing, quiz["id"], TWO_RIGHT, "two")
    assert (await course_entry(api, failing, course["id"]))["completedLessons"] == 0


async def test_students_and_other_tutors_can_neither_edit_nor_delete_a_quiz(api, actor):
    tutor, other_tutor, student, outsider, admin = (
        await actor("tutor"), await actor("tutor"), await actor("student"), await actor("student"), await actor("admin")
    )
    # Enrolled, and a tutor too (of other courses): the role gate lets them by, the relation does not.
    enrolled_tutor = await actor("student", "tutor")
    course, _, quiz = await course_with_quiz(api, tutor)
    for who in (student, enrolled_tutor):
        await enrol(api, who, course["id"])
    takeover = {"questions": [dict(q, correct=[0]) for q in QUESTIONS], "passMarkPercent": 0, "title": "Mine now"}
    for who in (student, outsider, other_tutor, enrolled_tutor):
        resp = await edit(api, who, quiz["id"], takeover)
        assert resp.status_code == 403, (who.roles, resp.text)
        resp = await api.delete(f"quizzes/{quiz['id']}", headers=who.headers)
        assert resp.status_code == 403, (who.roles, resp.text)
    got = (await api.get(f"quizzes/{quiz['id']}", headers=student.headers)).json()
    assert (got["title"], got["passMarkPercent"]) == ("Sums", 60)
    assert (await attempt(api, student, quiz["id"], [[0], [0], [0]], "probe"))["score"] == 2
    # Unknown quiz: 404 for its would-be editors too.
    assert (await edit(api, tutor, "00000000-0000-4000-8000-000000000000", {"title": "x"})).status_code == 404
    # An admin may edit any course's quiz (title only: it was attempted).
    resp = await edit(api, admin, quiz["id"], {"title": "Checked by an admin"})
    assert resp.status_code == 200, resp.text


async def test_a_malformed_edit_is_refused_with_field_errors(api, actor):
    tutor = await actor("tutor")
    _, _, quiz = await course_with_quiz(api, tutor)
    bad_key = [{"prompt": "?", "options": ["a", "b"], "correct": [5], "points": 1}]
    resp = await edit(api, tutor, quiz["id"], {"questions": bad_key})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "questions[0].correct"
    for body in ({"passMarkPercent": 101}, {"maxAttempts": 0}, {"title": ""}, {"questions": []}, {"lessonId": quiz["lessonId"]}):
        resp = await edit(api, tutor, quiz["id"], body)
        assert resp.status_code == 400, (body, resp.text)


# --- deletes ---------------------------------------------------------------------------
async def test_deleting_a_quiz_takes_its_attempts_and_points_and_keeps_completions(api, actor):
    tutor, student, admin = await actor("tutor"), await actor("student"), await actor("admin")
    course, lesson, quiz = await course_with_quiz(api, tutor)
    await enrol(api, student, course["id"])
    await attempt(api, student, quiz["id"], ALL_RIGHT, "pass")
    board = (await api.get(f"courses/{course['id']}/leaderboard", headers=student.headers)).json()
    assert board["me"]["points"] == 3
    assert len((await course_entry(api, student, course["id"]))["recentQuizResults"]) == 1

    resp = await api.delete(f"quizzes/{quiz['id']}", headers=tutor.headers)
    assert resp.status_code == 204, resp.text
    assert (await api.get(f"quizzes/{quiz['id']}", headers=student.headers)).status_code == 404
    gone = await api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": ALL_RIGHT},
                          headers={**student.headers, "Idempotency-Key": "late"})
    assert gone.status_code == 404, gone.text
    assert (await api.delete(f"quizzes/{quiz['id']}", headers=tutor.headers)).status_code == 404

    board = (await api.get(f"courses/{course['id']}/leaderboard", headers=student.headers)).json()
    assert board["me"]["points"] == 0 and board["items"] == []
    entry = await course_entry(api, student, course["id"])
    assert entry["recentQuizResults"] == [] and entry["points"] == 0
    assert entry["completedLessons"] == 1  # the lesson stays, and so does its completion
    assert await lesson_completions(api, tutor, course["id"], lesson["id"]) == 1

    [row] = await audit_rows(api, admin, tutor, "quiz.deleted")
    assert row["target"] == f"quiz/{quiz['id']}" and row["details"]["after"] is None
    assert row["details"]["before"]["title"] == "Sums"
    assert [q["correct"] for q in row["details"]["before"]["questions"]] == [q["correct"] for q in QUESTIONS]
    assert row["details"]["removed"] == {"quizAttempts": 1, "bestScores": 1}


async def test_deleting_the_quiz_a_student_failed_completes_a_lesson_whose_other_quiz_they_passed(api, actor):
    tutor, student, other = await actor("tutor"), await actor("student"), await actor("student")
    course, lesson, first = await course_with_quiz(api, tutor)
    second = await api.post("quizzes", headers=tutor.headers, json={
        "lessonId": lesson["id"], "title": "More sums", "questions": QUESTIONS, "maxAttempts": 10})
    assert second.status_code == 201, second.text
    for who in (student, other):
        await enrol(api, who, course["id"])
    await attempt(api, student, first["id"], ALL_RIGHT, "first")
    await attempt(api, student, second.json()["id"], ONE_RIGHT, "second")
    await attempt(api, other, second.json()["id"], ALL_RIGHT, "other")  # passed only the quiz that goes
    assert await roster_completions(api, tutor, course["id"]) == {student.user_id: 0, other.user_id: 0}

    assert (await api.delete(f"quizzes/{second.json()['id']}", headers=tutor.headers)).status_code == 204
    assert await roster_completions(api, tutor, course["id"]) == {student.user_id: 1, other.user_id: 0}
    assert (await course_entry(api, student, course["id"]))["completedLessons"] == 1


async def test_an_admin_deletes_any_course_s_quiz(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    _, _, quiz = await course_with_quiz(api, tutor)
    assert (await api.delete(f"quizzes/{quiz['id']}", headers=admin.headers)).status_code == 204
    assert (await api.get(f"quizzes/{quiz['id']}", headers=tutor.headers)).status_code == 404


# --- takedowns -------------------------------------------------------------------------
async def test_a_tutor_cannot_edit_or_delete_the_quiz_of_a_course_an_admin_took_down(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    course, _, quiz = await course_with_quiz(api, tutor)
    taken = await api.post(f"admin/courses/{course['id']}/takedown", json={"reason": "quiz check"}, headers=admin.headers)
    assert taken.status_code == 200, taken.text

    for resp in (await edit(api, tutor, quiz["id"], {"title": "Still mine"}),
                 await api.delete(f"quizzes/{quiz['id']}", headers=tutor.headers)):
        assert resp.status_code == 409, resp.text
        assert resp.json()["type"].endswith("/taken-down")
    assert (await api.get(f"quizzes/{quiz['id']}", headers=tutor.headers)).json()["title"] == "Sums"

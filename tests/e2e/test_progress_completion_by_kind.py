"""Lessons complete by their kind, through the HTTP API: a video by earned watch time, a quiz
lesson when its quiz is passed (the best attempt against the quiz's pass mark), a document
lesson when an enrolled student downloads its material. A student with a script cannot
complete a quiz or a document lesson with heartbeats or offline events, a failing attempt
completes nothing, and a download by anyone but an enrolled student completes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tests.support.completion import (
    ALL_RIGHT,
    ONE_RIGHT,
    TWO_RIGHT,
    attempt,
    course_entry,
    document_lesson,
    lesson_completions,
    quiz_lesson,
)
from tests.support.content import add_lesson, create_course, enrol, publish, upload_material

pytestmark = pytest.mark.timeout(120)

FULL_WATCH = {"positionSeconds": 600, "watchedSeconds": 600, "durationSeconds": 600}


async def test_a_heartbeat_on_a_quiz_or_document_lesson_is_refused_and_completes_nothing(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    quiz, _ = await quiz_lesson(api, tutor, course["id"])
    document, _ = await document_lesson(api, tutor, course["id"])
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])

    for lesson, word in ((quiz, "quiz"), (document, "material")):
        # A tiny claimed duration would have completed it at once before.
        for beat in (FULL_WATCH, {"positionSeconds": 1, "watchedSeconds": 1, "durationSeconds": 1}):
            resp = await api.put(f"progress/lessons/{lesson['id']}", json=beat, headers=student.headers)
            assert resp.status_code == 422, resp.text
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert word in resp.json()["detail"]

    events = [
        {"lessonId": lesson["id"], "clientTime": datetime.now(UTC).isoformat(), **FULL_WATCH} for lesson in (quiz, document)
    ]
    synced = await api.post("progress/sync", json={"events": events}, headers=student.headers)
    assert synced.status_code == 200, synced.text
    body = synced.json()
    assert body["accepted"] == [] and [r["index"] for r in body["refused"]] == [0, 1]
    assert all("not by heartbeats" in r["reason"] for r in body["refused"])

    entry = await course_entry(api, student, course["id"])
    assert (entry["completedLessons"], entry["progressPercent"]) == (0, 0.0)
    for lesson in (quiz, document):
        assert await lesson_completions(api, tutor, course["id"], lesson["id"]) == 0


async def test_a_failing_attempt_completes_nothing_and_the_best_attempt_decides(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    lesson, quiz = await quiz_lesson(api, tutor, course["id"])
    await add_lesson(api, tutor, course["id"], title="Video")
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    assert quiz["passMarkPercent"] == 60

    await attempt(api, student, quiz["id"], ONE_RIGHT, "one")  # 33 %: below the mark
    entry = await course_entry(api, student, course["id"])
    assert (entry["completedLessons"], entry["progressPercent"]) == (0, 0.0)
    assert await lesson_completions(api, tutor, course["id"], lesson["id"]) == 0

    await attempt(api, student, quiz["id"], TWO_RIGHT, "two")  # 66 %: passes 60
    entry = await course_entry(api, student, course["id"])
    assert (entry["completedLessons"], entry["progressPercent"]) == (1, 50.0)
    assert await lesson_completions(api, tutor, course["id"], lesson["id"]) == 1

    await attempt(api, student, quiz["id"], ONE_RIGHT, "three")  # a worse attempt later undoes nothing
    entry = await course_entry(api, student, course["id"])
    assert (entry["completedLessons"], entry["progressPercent"]) == (1, 50.0)


async def test_the_pass_mark_is_the_quizs_own(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    lesson, quiz = await quiz_lesson(api, tutor, course["id"], passMarkPercent=100)
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    assert quiz["passMarkPercent"] == 100
    seen = await api.get(f"quizzes/{quiz['id']}", headers=student.headers)
    assert seen.json()["passMarkPercent"] == 100

    await attempt(api, student, quiz["id"], TWO_RIGHT, "two")
    assert (await course_entry(api, student, course["id"]))["completedLessons"] == 0
    await attempt(api, student, quiz["id"], ALL_RIGHT, "all")
    assert (await course_entry(api, student, course["id"]))["completedLessons"] == 1

    for bad in (101, -1, "sixty"):
        resp = await api.post("quizzes", headers=tutor.headers, json={
            "lessonId": lesson["id"], "title": "Bad", "passMarkPercent": bad,
            "questions": [{"prompt": "?", "options": ["a", "b"], "correct": [0]}]})
        assert resp.status_code == 400, resp.text


async def test_only_a_download_by_an_enrolled_student_completes_a_document_lesson(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    student, stranger = await actor("student"), await actor("student")
    course = await create_course(api, tutor)
    lesson, material_id = await document_lesson(api, tutor, course["id"])
    await add_lesson(api, tutor, course["id"], title="Video")
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])

    # The tutor and an admin may download; neither completes anything.
    for reader in (tutor, admin):
        resp = await api.get(f"materials/{material_id}/download", headers=reader.headers)
        assert resp.status_code == 200, resp.text
    # A student who is not enrolled is refused, and completes nothing either.
    assert (await api.get(f"materials/{material_id}/download", headers=stranger.headers)).status_code == 403
    assert await lesson_completions(api, tutor, course["id"], lesson["id"]) == 0
    assert (await course_entry(api, student, course["id"]))["completedLessons"] == 0

    resp = await api.get(f"materials/{material_id}/download", headers=student.headers)
    assert resp.status_code == 200, resp.text
    entry = await course_entry(api, student, course["id"])
    assert (entry["completedLessons"], entry["progressPercent"]) == (1, 50.0)
    assert await lesson_completions(api, tutor, course["id"], lesson["id"]) == 1
    # Opening it again changes nothing.
    assert (await api.get(f"materials/{material_id}/download", headers=student.headers)).status_code == 200
    assert await lesson_completions(api, tutor, course["id"], lesson["id"]) == 1


async def test_a_downloaded_material_completes_only_the_lessons_that_name_it(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    named, _ = await document_lesson(api, tutor, course["id"])
    other = await upload_material(api, tutor, course["id"], b"%PDF-1.4 other", file_name="other.pdf",
                                  content_type="application/pdf")
    assert (await api.post(f"materials/{other['materialId']}/publish", headers=tutor.headers)).status_code == 200
    unnamed = await add_lesson(api, tutor, course["id"], title="Notes", kind="document")
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])

    assert (await api.get(f"materials/{other['materialId']}/download", headers=student.headers)).status_code == 200
    assert (await course_entry(api, student, course["id"]))["completedLessons"] == 0
    assert await lesson_completions(api, tutor, course["id"], named["id"]) == 0
    assert await lesson_completions(api, tutor, course["id"], unnamed["id"]) == 0


async def test_a_lesson_names_only_a_material_of_its_own_course_and_only_as_a_document(api, actor):
    tutor = await actor("tutor")
    course, elsewhere = await create_course(api, tutor), await create_course(api, tutor)
    mine = await upload_material(api, tutor, course["id"], b"%PDF-1.4 a", file_name="a.pdf", content_type="application/pdf")
    theirs = await upload_material(api, tutor, elsewhere["id"], b"%PDF-1.4 b", file_name="b.pdf", content_type="application/pdf")

    def lesson(**fields):
        return api.post(f"courses/{course['id']}/lessons", headers=tutor.headers, json={"title": "L", **fields})

    resp = await lesson(kind="quiz", materialId=mine["materialId"])
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "materialId"
    resp = await lesson(kind="document", materialId=theirs["materialId"])
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "materialId"
    resp = await lesson(kind="document", materialId=str(uuid.uuid4()))
    assert resp.status_code == 422

    # A document lesson made without one is linked later by its tutor.
    plain = (await lesson(kind="document")).json()
    assert plain["materialId"] is None
    linked = await api.patch(f"lessons/{plain['id']}", headers=tutor.headers, json={"materialId": mine["materialId"]})
    assert linked.status_code == 200 and linked.json()["materialId"] == mine["materialId"]
    refused = await api.patch(f"lessons/{plain['id']}", headers=tutor.headers, json={"materialId": theirs["materialId"]})
    assert refused.status_code == 422

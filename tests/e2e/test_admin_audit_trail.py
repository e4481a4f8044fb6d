"""Every change of a course, lesson, material, quiz, price or role leaves an audit row with
what was there before and what is there after: the rows the trail lacked until the admin
app (a course created, publishing, a quiz with its keys, an upload started)."""

from __future__ import annotations

import pytest

from tests.support.content import add_lesson, audit_rows, create_course, publish, upload_material

pytestmark = pytest.mark.timeout(90)


async def test_creating_and_publishing_a_course_is_audited_before_and_after(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    course = await create_course(api, tutor, title="Audited", price_cents=1200)
    [created] = await audit_rows(api, admin, tutor, "course.created")
    assert created["target"] == f"course/{course['id']}"
    assert created["details"] == {"before": None, "after": {
        "title": "Audited", "description": "A course made by a test.", "priceCents": 1200, "currency": "USD",
        "published": False}}
    await publish(api, tutor, course["id"])
    [published] = await audit_rows(api, admin, tutor, "course.published")
    assert published["details"]["before"] == {"published": False} and published["details"]["after"] == {"published": True}


async def test_a_quiz_is_audited_with_its_questions_and_keys(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    course = await create_course(api, tutor)
    lesson = await add_lesson(api, tutor, course["id"], title="Quiz", kind="quiz")
    quiz = await api.post("quizzes", headers=tutor.headers, json={
        "lessonId": lesson["id"], "title": "Keys", "maxAttempts": 2,
        "questions": [{"prompt": "2+2?", "options": ["3", "4"], "correct": [1], "points": 3}]})
    assert quiz.status_code == 201, quiz.text
    [row] = await audit_rows(api, admin, tutor, "quiz.created")
    assert row["target"] == f"quiz/{quiz.json()['id']}" and row["details"]["courseId"] == course["id"]
    assert row["details"]["before"] is None
    assert row["details"]["after"] == {"title": "Keys", "maxScore": 3, "maxAttempts": 2, "passMarkPercent": 60, "questions": [
        {"prompt": "2+2?", "options": ["3", "4"], "correct": [1], "points": 3}]}


async def test_starting_an_upload_is_audited_as_the_material_it_creates(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    course = await create_course(api, tutor)
    grant = await upload_material(api, tutor, course["id"], b"%PDF-1.4 audit", file_name="plan.pdf",
                                  content_type="application/pdf")
    [row] = await audit_rows(api, admin, tutor, "material.upload_started")
    assert row["target"] == f"material/{grant['materialId']}"
    assert row["details"]["before"] is None
    assert row["details"]["after"] == {"fileName": "plan.pdf", "contentType": "application/pdf", "sizeBytes": 14,
                                       "status": "pending"}

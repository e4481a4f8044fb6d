"""Every create-style write of the contract, retried by a client with the same
Idempotency-Key: the retry returns the resource the first call created (nothing is made
twice), and the same key with another body is a 409.

The keys live in PostgreSQL, either committed with the write (courses, lessons, quiz
attempts) or claimed around it by the generic mechanism (the rest).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.actors import Actor
from tests.support.content import add_lesson, add_quiz, create_course, enrol, publish
from tests.support.live import create_class, start_class

pytestmark = pytest.mark.timeout(90)


@dataclass
class Write:
    who: Actor
    path: str
    body: dict[str, Any]
    changed: dict[str, Any]


def _id(body: dict[str, Any]) -> str:
    return body.get("id") or body.get("materialId") or body["attemptId"]


async def _course(api, actor) -> tuple[Actor, dict]:
    tutor = await actor("tutor")
    course = await create_course(api, tutor)
    return tutor, course


async def course_write(api, actor) -> Write:
    tutor = await actor("tutor")
    body = {"title": "Retried course", "description": "d"}
    return Write(tutor, "courses", body, {**body, "title": "Another course"})


async def lesson_write(api, actor) -> Write:
    tutor, course = await _course(api, actor)
    body = {"title": "Retried lesson", "kind": "document"}
    return Write(tutor, f"courses/{course['id']}/lessons", body, {**body, "title": "Another lesson"})


async def upload_write(api, actor) -> Write:
    tutor, course = await _course(api, actor)
    body = {"fileName": "notes.pdf", "contentType": "application/pdf", "sizeBytes": 100}
    return Write(tutor, f"courses/{course['id']}/materials/uploads", body, {**body, "sizeBytes": 200})


async def enrolment_write(api, actor) -> Write:
    tutor, course = await _course(api, actor)
    await publish(api, tutor, course["id"])
    admin, student, other = await actor("admin"), await actor("student"), await actor("student")
    return Write(admin, f"courses/{course['id']}/enrollments", {"userId": student.user_id}, {"userId": other.user_id})


async def quiz_write(api, actor) -> Write:
    tutor, course = await _course(api, actor)
    lesson = await add_lesson(api, tutor, course["id"], title="Quiz", kind="quiz")
    body = {"lessonId": lesson["id"], "title": "Retried quiz",
            "questions": [{"prompt": "?", "options": ["a", "b"], "correct": [0], "points": 1}]}
    return Write(tutor, "quizzes", body, {**body, "title": "Another quiz"})


async def attempt_write(api, actor) -> Write:
    tutor, course = await _course(api, actor)
    quiz = await add_quiz(api, tutor, course["id"])
    await publish(api, tutor, course["id"])
    student = await actor("student")
    await enrol(api, student, course["id"])
    return Write(student, f"quizzes/{quiz['id']}/attempts", {"answers": [[1]]}, {"answers": [[0]]})


async def class_write(api, actor) -> Write:
    tutor, course = await _course(api, actor)
    body = {"courseId": course["id"], "title": "Retried class",
            "scheduledAt": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    return Write(tutor, "classes", body, {**body, "title": "Another class"})


async def poll_write(api, actor) -> Write:
    tutor, course = await _course(api, actor)
    await publish(api, tutor, course["id"])
    klass = await create_class(api, tutor, course["id"])
    await start_class(api, tutor, klass["id"])
    body = {"question": "Retried?", "options": ["yes", "no"]}
    return Write(tutor, f"classes/{klass['id']}/polls", body, {**body, "question": "Another?"})


WRITES: dict[str, Callable[[httpx.AsyncClient, Any], Awaitable[Write]]] = {
    "course": course_write,
    "lesson": lesson_write,
    "material upload": upload_write,
    "enrolment": enrolment_write,
    "quiz": quiz_write,
    "quiz attempt": attempt_write,
    "class": class_write,
    "poll": poll_write,
}


@pytest.mark.parametrize("kind", list(WRITES))
async def test_a_retried_create_returns_the_first_resource_and_another_body_conflicts(api, actor, kind):
    write = await WRITES[kind](api, actor)
    headers = {**write.who.headers, "Idempotency-Key": f"retry-{uuid.uuid4()}"}

    first = await api.post(write.path, json=write.body, headers=headers)
    assert first.status_code == 201, first.text
    again = await api.post(write.path, json=write.body, headers=headers)
    assert again.status_code == 201, again.text
    assert _id(again.json()) == _id(first.json()), "the retry returns the resource the first call made"
    assert again.json() == first.json()

    changed = await api.post(write.path, json=write.changed, headers=headers)
    assert changed.status_code == 409, changed.text
    assert changed.headers["content-type"].startswith("application/problem+json")

    # A fresh key is a new request: it creates its own resource (an enrolment finds the
    # same one; a class holds one open poll at a time, so a second poll is a conflict).
    fresh = await api.post(write.path, json=write.body, headers={**write.who.headers, "Idempotency-Key": str(uuid.uuid4())})
    if kind == "poll":
        assert fresh.status_code == 409, fresh.text
    elif kind == "enrolment":
        assert fresh.status_code == 200 and _id(fresh.json()) == _id(first.json()), fresh.text
    else:
        assert fresh.status_code == 201 and _id(fresh.json()) != _id(first.json()), fresh.text


async def test_a_lesson_retried_many_times_exists_once(api, actor):
    tutor, course = await _course(api, actor)
    headers = {**tutor.headers, "Idempotency-Key": str(uuid.uuid4())}
    for _ in range(4):
        resp = await api.post(f"courses/{course['id']}/lessons", json={"title": "Once", "kind": "document"}, headers=headers)
        assert resp.status_code == 201, resp.text
    detail = await api.get(f"courses/{course['id']}", headers=tutor.headers)
    assert [lesson["title"] for lesson in detail.json()["lessons"]] == ["Once"]

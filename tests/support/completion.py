"""Scenario helpers for completion by lesson kind and certificates, through the public API."""

from __future__ import annotations

import re
import zlib

import httpx

from tests.support.actors import Actor
from tests.support.content import add_lesson, eventually, upload_material

QUESTIONS = [
    {"prompt": "2 + 2?", "options": ["3", "4"], "correct": [1], "points": 1},
    {"prompt": "3 + 3?", "options": ["6", "7"], "correct": [0], "points": 1},
    {"prompt": "4 + 4?", "options": ["8", "9"], "correct": [0], "points": 1},
]
ALL_RIGHT = [[1], [0], [0]]
TWO_RIGHT = [[1], [0], [1]]  # 2 of 3: 66 %
ONE_RIGHT = [[1], [1], [1]]  # 1 of 3: 33 %


async def quiz_lesson(api: httpx.AsyncClient, tutor: Actor, course_id: str, **quiz_fields) -> tuple[dict, dict]:
    """A quiz lesson with a three-question quiz: (lesson, quiz)."""
    lesson = await add_lesson(api, tutor, course_id, title="Check yourself", kind="quiz")
    resp = await api.post(
        "quizzes", headers=tutor.headers,
        json={"lessonId": lesson["id"], "title": "Sums", "questions": QUESTIONS, "maxAttempts": 10, **quiz_fields},
    )
    assert resp.status_code == 201, resp.text
    return lesson, resp.json()


async def document_lesson(api: httpx.AsyncClient, tutor: Actor, course_id: str) -> tuple[dict, str]:
    """A published PDF material and a document lesson that names it: (lesson, material id)."""
    grant = await upload_material(api, tutor, course_id, b"%PDF-1.4 reading", file_name="reading.pdf",
                                  content_type="application/pdf")
    material_id = grant["materialId"]
    published = await api.post(f"materials/{material_id}/publish", headers=tutor.headers)
    assert published.status_code == 200, published.text
    lesson = await add_lesson(api, tutor, course_id, title="Reading", kind="document", materialId=material_id)
    assert lesson["materialId"] == material_id
    return lesson, material_id


async def attempt(api: httpx.AsyncClient, student: Actor, quiz_id: str, answers: list, key: str) -> dict:
    resp = await api.post(
        f"quizzes/{quiz_id}/attempts", json={"answers": answers}, headers={**student.headers, "Idempotency-Key": key}
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def course_entry(api: httpx.AsyncClient, student: Actor, course_id: str) -> dict:
    resp = await api.get("me/dashboard", headers=student.headers)
    assert resp.status_code == 200, resp.text
    (entry,) = [c for c in resp.json()["courses"] if c["courseId"] == course_id]
    return entry


async def lesson_completions(api: httpx.AsyncClient, tutor: Actor, course_id: str, lesson_id: str) -> int:
    """How many students completed the lesson, from the tutor's analytics funnel."""
    resp = await api.get(f"courses/{course_id}/analytics", headers=tutor.headers)
    assert resp.status_code == 200, resp.text
    (row,) = [r for r in resp.json()["lessons"] if r["lessonId"] == lesson_id]
    return int(row["completed"])


async def certificates(api: httpx.AsyncClient, student: Actor) -> list[dict]:
    resp = await api.get("me/certificates", headers=student.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def rendered_certificate(api: httpx.AsyncClient, student: Actor, course_id: str) -> dict:
    """The student's certificate for the course once its PDF is ready (rendered off the request)."""

    async def ready() -> dict | None:
        found = [c for c in await certificates(api, student) if c["courseId"] == course_id]
        return found[0] if found and found[0]["pdfReady"] else None

    return await eventually(ready, timeout=30, interval=0.3)


def pdf_text(data: bytes) -> bytes:
    """The page content of a PDF fpdf2 wrote: its streams, inflated where compressed."""
    parts = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            parts.append(match.group(1))
    return b"\n".join(parts)

"""Content scenarios built through the public API: courses, lessons, enrolment, uploads."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.support.actors import Actor


async def create_course(api: httpx.AsyncClient, tutor: Actor, *, title: str | None = None, price_cents: int = 0) -> dict:
    body = {"title": title or f"Course {uuid.uuid4().hex[:8]}", "description": "A course made by a test."}
    if price_cents:
        body["priceCents"] = price_cents
    resp = await api.post("courses", json=body, headers=tutor.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def register_video(
    api: httpx.AsyncClient, tutor: Actor, *, title: str = "A video", duration_seconds: int | None = 600, **fields: Any
) -> dict:
    """Registers a video asset owned by `tutor`, as the tutor app does before adding a video lesson."""
    body = {"title": title, **fields}
    if duration_seconds is not None:
        body["durationSeconds"] = duration_seconds
    resp = await api.post("videos", json=body, headers=tutor.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def add_lesson(api: httpx.AsyncClient, tutor: Actor, course_id: str, **fields: Any) -> dict:
    """A lesson; a video lesson gets a video registered by `tutor` unless it names one."""
    body = {"title": fields.pop("title", "A lesson"), "kind": fields.pop("kind", "video"), **fields}
    if body["kind"] == "video":
        if "videoAssetId" not in body:
            body["videoAssetId"] = (await register_video(api, tutor))["id"]
        body.setdefault("durationSeconds", 600)
    resp = await api.post(f"courses/{course_id}/lessons", json=body, headers=tutor.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def publish(api: httpx.AsyncClient, tutor: Actor, course_id: str) -> dict:
    resp = await api.patch(f"courses/{course_id}", json={"published": True}, headers=tutor.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def published_course(api: httpx.AsyncClient, tutor: Actor, *, price_cents: int = 0) -> tuple[dict, dict]:
    """A published course with one video lesson: (course, lesson)."""
    course = await create_course(api, tutor, price_cents=price_cents)
    lesson = await add_lesson(api, tutor, course["id"], title="Welcome")
    await publish(api, tutor, course["id"])
    return course, lesson


async def enrol(api: httpx.AsyncClient, student: Actor, course_id: str) -> dict:
    resp = await api.post(f"courses/{course_id}/enrollments", json={}, headers=student.headers)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


async def upload_material(
    api: httpx.AsyncClient, tutor: Actor, course_id: str, data: bytes, *, file_name: str, content_type: str
) -> dict:
    """Asks for an upload SAS and PUTs the bytes straight to Blob storage, as a browser would."""
    resp = await api.post(
        f"courses/{course_id}/materials/uploads",
        json={"fileName": file_name, "contentType": content_type, "sizeBytes": len(data)},
        headers=tutor.headers,
    )
    assert resp.status_code == 201, resp.text
    grant = resp.json()
    async with httpx.AsyncClient(timeout=30) as blob_client:
        put = await blob_client.put(grant["uploadUrl"], content=data, headers=grant["requiredHeaders"])
    assert put.status_code == 201, put.text
    return grant


async def eventually[T](check: Callable[[], Awaitable[T | None]], *, timeout: float = 10.0, interval: float = 0.2) -> T:
    """The first non-None result of `check`, for effects that land off the request's path."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result is not None:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the expected effect did not happen in time")
        await asyncio.sleep(interval)


async def audit_rows(api: httpx.AsyncClient, admin: Actor, actor: Actor, action: str) -> list[dict]:
    """The audit rows of `action` by `actor`, once they have landed (they go through the outbox)."""

    async def found() -> list[dict] | None:
        resp = await api.get("admin/audit", params={"actor": actor.user_id, "action": action}, headers=admin.headers)
        assert resp.status_code == 200, resp.text
        return resp.json()["items"] or None

    return await eventually(found, timeout=15)


async def add_quiz(api: httpx.AsyncClient, tutor: Actor, course_id: str, *, max_attempts: int = 10) -> dict:
    """A one-question quiz (answer [[1]] is right) on a new quiz lesson."""
    lesson = await add_lesson(api, tutor, course_id, title="Quiz", kind="quiz")
    resp = await api.post("quizzes", headers=tutor.headers, json={
        "lessonId": lesson["id"], "title": "Q", "maxAttempts": max_attempts,
        "questions": [{"prompt": "1+1?", "options": ["1", "2"], "correct": [1], "points": 1}],
    })
    assert resp.status_code == 201, resp.text
    return resp.json()

"""Certificates through the HTTP API: completing every lesson of a course issues one
certificate, whichever path completed the last lesson (a heartbeat, an offline sync, a
passed quiz, a downloaded document); its PDF is rendered off the request into a private
container (read back from Azurite here) and reached only through a short read SAS for that
one blob; anyone can verify a code without signing in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from azure.storage.blob.aio import BlobServiceClient

from shared_code.settings import Settings
from tests.support.completion import (
    ALL_RIGHT,
    ONE_RIGHT,
    attempt,
    certificates,
    document_lesson,
    pdf_text,
    quiz_lesson,
    rendered_certificate,
)
from tests.support.content import add_lesson, create_course, enrol, publish
from tests.support.progress import enrolled_earlier

pytestmark = pytest.mark.timeout(180)

SHORT_VIDEO = {"positionSeconds": 3, "watchedSeconds": 3, "durationSeconds": 3}


async def certificate_rows(postgres_url: str, user_id: str, course_id: str) -> int:
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM certificates WHERE user_id = %s AND course_id = %s", (user_id, course_id)
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def three_kind_course(api, tutor) -> dict:
    """A published course with a 3-second video, a quiz lesson and a document lesson."""
    course = await create_course(api, tutor, title="Linear algebra, the first steps")
    video = await add_lesson(api, tutor, course["id"], title="Intro", durationSeconds=3)
    lesson, quiz = await quiz_lesson(api, tutor, course["id"])
    document, material_id = await document_lesson(api, tutor, course["id"])
    await publish(api, tutor, course["id"])
    return {"course": course, "video": video, "quiz": quiz, "quiz_lesson": lesson, "document": document,
            "material": material_id}


async def test_completing_every_lesson_issues_one_certificate_with_its_pdf(api, actor, stack):
    tutor = await actor("tutor")
    student = await actor("student", name="Ada Łukasiewicz Zoë")
    w = await three_kind_course(api, tutor)
    course_id = w["course"]["id"]
    await enrol(api, student, course_id)

    done = await api.put(f"progress/lessons/{w['video']['id']}", json=SHORT_VIDEO, headers=student.headers)
    assert done.status_code == 200 and done.json()["completed"] is True
    await attempt(api, student, w["quiz"]["id"], ALL_RIGHT, "pass")
    assert await certificates(api, student) == [], "two of three lessons: no certificate yet"

    # The document is the last lesson: its download issues the certificate.
    assert (await api.get(f"materials/{w['material']}/download", headers=student.headers)).status_code == 200
    cert = await rendered_certificate(api, student, course_id)
    assert cert["courseTitle"] == "Linear algebra, the first steps"
    assert cert["holderName"] == "Ada Łukasiewicz Zoë"
    assert cert["verifyUrl"].endswith(f"/api/certificates/{cert['code']}")
    issued_at = datetime.fromisoformat(cert["issuedAt"])
    assert abs(datetime.now(UTC) - issued_at) < timedelta(minutes=2)

    # Exactly once: the last lesson completed again by another path issues nothing more.
    assert (await api.get(f"materials/{w['material']}/download", headers=student.headers)).status_code == 200
    await attempt(api, student, w["quiz"]["id"], ALL_RIGHT, "again")
    assert [c["code"] for c in await certificates(api, student)] == [cert["code"]]
    assert await certificate_rows(stack.postgres_url, student.user_id, course_id) == 1

    # The PDF, read back from Azurite: a PDF with the holder, the course and the code in it.
    settings = Settings()
    async with BlobServiceClient.from_connection_string(stack.storage_connection_string) as service:
        blobs = [b.name async for b in service.get_container_client(settings.certificates_container).list_blobs(
            name_starts_with=f"{student.user_id}/")]
        assert len(blobs) == 1
        stored = await (await service.get_blob_client(settings.certificates_container, blobs[0]).download_blob()).readall()
        access = await service.get_container_client(settings.certificates_container).get_container_access_policy()
        assert access.get("public_access") is None, "the certificates container is private"
    assert stored.startswith(b"%PDF-")
    text = pdf_text(stored)
    assert "Ada Łukasiewicz Zoë" in text
    assert "Linear algebra, the first steps" in text and cert["code"] in text
    assert cert["verifyUrl"] in text

    # The download: a read SAS for that one blob, for minutes.
    resp = await api.get(f"me/certificates/{cert['code']}/download", headers=student.headers)
    assert resp.status_code == 200, resp.text
    grant = resp.json()
    expires = datetime.fromisoformat(grant["expiresAt"])
    assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(minutes=settings.sas_minutes, seconds=5)
    async with httpx.AsyncClient(timeout=30) as client:
        got = await client.get(grant["url"])
        assert got.status_code == 200 and got.content == stored
        assert got.headers["content-type"] == "application/pdf"
        assert "attachment" in got.headers["content-disposition"]
        # Another blob of the container, or of the materials container, with the same signature: refused.
        parts = urlsplit(grant["url"])
        other = parts._replace(path=parts.path.replace(blobs[0], f"{student.user_id}/other.pdf")).geturl()
        assert (await client.get(other)).status_code == 403
        material_path = parts.path.replace(f"/{settings.certificates_container}/", f"/{settings.materials_container}/")
        assert (await client.get(parts._replace(path=material_path).geturl())).status_code == 403
        # Read only: writing over it with the same URL is refused.
        put = await client.put(grant["url"], content=b"%PDF-forged", headers={"x-ms-blob-type": "BlockBlob"})
        assert put.status_code == 403


async def test_anyone_verifies_a_code_and_only_the_holder_downloads(api, actor):
    tutor, student, other = await actor("tutor"), await actor("student"), await actor("student")
    course = await create_course(api, tutor, title="Verification course")
    _, quiz = await quiz_lesson(api, tutor, course["id"])
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    await enrol(api, other, course["id"])
    await attempt(api, student, quiz["id"], ALL_RIGHT, "pass")  # the only lesson
    cert = await rendered_certificate(api, student, course["id"])
    code = cert["code"]

    # No sign-in needed; lower case and no dashes are the same code.
    for spelled in (code, code.lower(), code.replace("-", "")):
        resp = await api.get(f"certificates/{spelled}")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["code"], body["holderName"], body["courseTitle"]) == (code, student.name, "Verification course")
        assert body["issuedAt"] == cert["issuedAt"]
    for unknown in ("0000-0000-0000-0000", "not-a-code", "A" * 300):
        resp = await api.get(f"certificates/{unknown}")
        assert resp.status_code == 404 and resp.headers["content-type"].startswith("application/problem+json")

    assert (await api.get(f"me/certificates/{code}/download")).status_code == 401
    for stranger in (other, tutor):
        resp = await api.get(f"me/certificates/{code}/download", headers=stranger.headers)
        assert resp.status_code == 404, resp.text
    assert await certificates(api, other) == []
    assert (await api.get("me/certificates")).status_code == 401


async def test_a_failing_attempt_on_the_last_lesson_issues_nothing(api, actor, stack):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    _, quiz = await quiz_lesson(api, tutor, course["id"])
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    await attempt(api, student, quiz["id"], ONE_RIGHT, "fail")
    await asyncio.sleep(1.0)
    assert await certificates(api, student) == []
    assert await certificate_rows(stack.postgres_url, student.user_id, course["id"]) == 0


async def test_the_last_lesson_completed_by_a_heartbeat_issues_the_certificate(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    _, quiz = await quiz_lesson(api, tutor, course["id"])
    video = await add_lesson(api, tutor, course["id"], title="Last video", durationSeconds=3)
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    await attempt(api, student, quiz["id"], ALL_RIGHT, "pass")
    assert await certificates(api, student) == []
    done = await api.put(f"progress/lessons/{video['id']}", json=SHORT_VIDEO, headers=student.headers)
    assert done.status_code == 200 and done.json()["courseProgress"] == 1.0, done.text
    cert = await rendered_certificate(api, student, course["id"])
    assert cert["courseId"] == course["id"]


async def test_the_last_lesson_completed_by_an_offline_sync_issues_the_certificate(api, actor, stack):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    video = await add_lesson(api, tutor, course["id"], title="Only video", durationSeconds=3)
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    await enrolled_earlier(stack.postgres_url, student.user_id, course["id"], timedelta(minutes=10))
    event = {"lessonId": video["id"], "clientTime": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(), **SHORT_VIDEO}
    synced = await api.post("progress/sync", json={"events": [event]}, headers=student.headers)
    assert synced.status_code == 200 and synced.json()["lessons"][0]["completed"] is True, synced.text
    cert = await rendered_certificate(api, student, course["id"])
    assert cert["courseId"] == course["id"]


async def test_two_last_lessons_completing_at_once_issue_one_certificate(api, actor, stack):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    _, quiz = await quiz_lesson(api, tutor, course["id"])
    _, material_id = await document_lesson(api, tutor, course["id"])
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    headers = {**student.headers, "Idempotency-Key": "race"}
    passed, downloaded = await asyncio.gather(
        api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": ALL_RIGHT}, headers=headers),
        api.get(f"materials/{material_id}/download", headers=student.headers),
    )
    assert passed.status_code == 201 and downloaded.status_code == 200
    await rendered_certificate(api, student, course["id"])
    assert len(await certificates(api, student)) == 1
    assert await certificate_rows(stack.postgres_url, student.user_id, course["id"]) == 1


async def test_the_download_waits_for_the_pdf_and_the_list_pages(api, actor, stack):
    tutor, student = await actor("tutor"), await actor("student")
    codes = []
    for n in range(3):
        course = await create_course(api, tutor, title=f"Paged {n}")
        _, quiz = await quiz_lesson(api, tutor, course["id"])
        await publish(api, tutor, course["id"])
        await enrol(api, student, course["id"])
        await attempt(api, student, quiz["id"], ALL_RIGHT, f"pass-{n}")
        codes.append((await rendered_certificate(api, student, course["id"]))["code"])

    first = await api.get("me/certificates", params={"limit": 2}, headers=student.headers)
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 2 and page["nextCursor"]
    rest = (await api.get("me/certificates", params={"limit": 2, "cursor": page["nextCursor"]}, headers=student.headers)).json()
    assert rest["nextCursor"] is None
    assert [c["code"] for c in page["items"] + rest["items"]] == list(reversed(codes)), "newest first, each once"
    assert (await api.get("me/certificates", params={"cursor": "forged"}, headers=student.headers)).status_code == 400

    # A certificate whose PDF is not rendered yet: listed as not ready, its download a 409.
    async with await psycopg.AsyncConnection.connect(stack.postgres_url, autocommit=True) as conn:
        await conn.execute("UPDATE certificates SET pdf_blob = NULL WHERE code = %s", (codes[0],))
    (listed,) = [c for c in (await certificates(api, student)) if c["code"] == codes[0]]
    assert listed["pdfReady"] is False
    resp = await api.get(f"me/certificates/{codes[0]}/download", headers=student.headers)
    assert resp.status_code == 409 and int(resp.headers["Retry-After"]) > 0
    assert resp.headers["content-type"].startswith("application/problem+json")

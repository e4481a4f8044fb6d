"""Azurite (so Blob storage and the outbox queue) stops just as a student completes a
course: the certificate is issued at once (it lives in PostgreSQL) and verifiable, its PDF
render is parked in PostgreSQL, and once storage is back the drain timer renders it, so
the holder can download it, without a host restart."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.actors import new_actor
from tests.support.completion import ALL_RIGHT, attempt, certificates, pdf_text, quiz_lesson, rendered_certificate
from tests.support.content import create_course, enrol, publish

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]


async def test_a_certificate_issued_while_storage_is_down_is_rendered_after_it_returns(fault_api, fault_host):
    tutor, student = await new_actor(fault_api, "tutor"), await new_actor(fault_api, "student")
    course = await create_course(fault_api, tutor, title="Outage course")
    _, quiz = await quiz_lesson(fault_api, tutor, course["id"])
    await publish(fault_api, tutor, course["id"])
    await enrol(fault_api, student, course["id"])

    pid = fault_host.process.pid
    fault_host.azurite.stop()
    try:
        await attempt(fault_api, student, quiz["id"], ALL_RIGHT, "pass")  # the only lesson: the course is complete
        (issued,) = await certificates(fault_api, student)
        assert issued["courseId"] == course["id"] and issued["pdfReady"] is False
        verified = await fault_api.get(f"certificates/{issued['code']}")
        assert verified.status_code == 200 and verified.json()["holderName"] == student.name
        waiting = await fault_api.get(f"me/certificates/{issued['code']}/download", headers=student.headers)
        assert waiting.status_code == 409, waiting.text
        await asyncio.sleep(1.0)
    finally:
        fault_host.azurite.start()

    ready = await rendered_certificate(fault_api, student, course["id"])
    assert ready["code"] == issued["code"]
    grant = await fault_api.get(f"me/certificates/{issued['code']}/download", headers=student.headers)
    assert grant.status_code == 200, grant.text
    async with httpx.AsyncClient(timeout=30) as client:
        pdf = await client.get(grant.json()["url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert student.name in pdf_text(pdf.content)
    held = await certificates(fault_api, student)
    print(f"certificate outage: attempted=1 acknowledged=1 lost={1 - len(held)} duplicated={max(0, len(held) - 1)} "
          "(issued while storage was down, rendered after it returned)")
    assert len(held) == 1
    assert fault_host.process.poll() is None and fault_host.process.pid == pid, "recovered without a host restart"

"""What follows a certificate: the holder is told in their notification feed, and the
certificate is part of what Lectern holds about them, so an export lists it and an
erasure ends it (its code stops verifying: it would otherwise show their name to anyone)."""

from __future__ import annotations

import pytest

from tests.support.completion import ALL_RIGHT, attempt, quiz_lesson, rendered_certificate
from tests.support.content import create_course, enrol, eventually, publish

pytestmark = pytest.mark.timeout(120)


async def test_a_certificate_is_notified_exported_and_ended_by_an_erasure(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    _, quiz = await quiz_lesson(api, tutor, course["id"])
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    await attempt(api, student, quiz["id"], ALL_RIGHT, "followups")
    certificate = await rendered_certificate(api, student, course["id"])
    code = certificate["code"]

    async def told() -> dict | None:
        items = (await api.get("me/notifications", headers=student.headers)).json()["items"]
        return next((n for n in items if n["kind"] == "certificate.issued"), None)

    note = await eventually(told, timeout=15)
    assert note["data"]["code"] == code and course["title"] in note["title"]

    export = (await api.get("me/export", headers=student.headers)).json()["sections"]
    assert [c["code"] for c in export["certificates"]["items"]] == [code]
    assert (await api.get(f"certificates/{code}")).status_code == 200

    assert (await api.delete("me", headers=student.headers)).status_code == 204
    gone = await api.get(f"certificates/{code}")
    assert gone.status_code == 404, gone.text

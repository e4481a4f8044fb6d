"""The student app's own records in a privacy export and erasure: the notification feed and
the calendar feed URL. An erased student's notifications are gone and the calendar URL they
once shared stops answering (it would otherwise keep publishing their timetable). The feed
is refused twice over: its version moves on, and the feed answers only for a stored
account, which an erased one no longer is."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.content import enrol, eventually, published_course, upload_material

pytestmark = pytest.mark.timeout(120)


async def test_an_erasure_removes_the_notifications_and_retires_the_calendar_feed(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    grant = await upload_material(api, tutor, course["id"], b"%PDF-1.4 notes", file_name="notes.pdf",
                                  content_type="application/pdf")
    assert (await api.post(f"materials/{grant['materialId']}/publish", headers=tutor.headers)).status_code == 200
    feed_url = (await api.post("me/calendar/feed", headers=student.headers)).json()["url"]
    feed_path = urlsplit(feed_url).path.removeprefix("/api/")
    assert (await api.get(feed_path)).status_code == 200

    async def notified() -> list | None:
        items = (await api.get("me/notifications", headers=student.headers)).json()["items"]
        return items or None

    await eventually(notified, timeout=15)
    export = (await api.get("me/export", headers=student.headers)).json()["sections"]
    assert [n["kind"] for n in export["notifications"]["items"]] == ["material.published"]
    assert export["calendarFeed"]["items"][0]["version"] == 1

    assert (await api.delete("me", headers=student.headers)).status_code == 204
    admin = await actor("admin")
    after = (await api.get(f"admin/users/{student.user_id}/export", headers=admin.headers)).json()["sections"]
    assert after["notifications"]["items"] == []
    feed = await api.get(feed_path)
    assert feed.status_code == 404, feed.text

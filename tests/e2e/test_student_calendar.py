"""The student app's calendar: the caller's upcoming live classes, and the signed iCalendar feed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar

from tests.support.content import enrol, published_course

pytestmark = pytest.mark.timeout(120)


async def schedule(api, tutor, course_id: str, title: str, in_days: float) -> dict:
    at = datetime.now(UTC) + timedelta(days=in_days)
    resp = await api.post("classes", json={"courseId": course_id, "title": title, "scheduledAt": at.isoformat()},
                          headers=tutor.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def calendar(api, who, **params) -> list[dict]:
    resp = await api.get("me/calendar", params=params, headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def feed_path(url: str) -> str:
    """The feed URL relative to the API root the test client is rooted at."""
    path = urlsplit(url).path
    assert path.startswith("/api/calendar/")
    return path.removeprefix("/api/")


async def test_the_calendar_lists_only_the_callers_classes_in_time_order(api, actor):
    tutor, other_tutor = await actor("tutor"), await actor("tutor")
    student, stranger = await actor("student"), await actor("student")
    mine, _ = await published_course(api, tutor)
    theirs, _ = await published_course(api, other_tutor)
    await enrol(api, student, mine["id"])
    later = await schedule(api, tutor, mine["id"], "Second", 2)
    sooner = await schedule(api, tutor, mine["id"], "First", 1)
    far = await schedule(api, tutor, mine["id"], "Next month and more", 40)
    other = await schedule(api, other_tutor, theirs["id"], "Not yours", 1)

    seen = await calendar(api, student)
    assert [c["id"] for c in seen] == [sooner["id"], later["id"]]
    assert (seen[0]["courseId"], seen[0]["courseTitle"], seen[0]["role"]) == (mine["id"], mine["title"], "student")
    assert [c["id"] for c in await calendar(api, tutor)] == [sooner["id"], later["id"]]
    assert (await calendar(api, tutor))[0]["role"] == "tutor"
    assert [c["id"] for c in await calendar(api, other_tutor)] == [other["id"]]
    assert await calendar(api, stranger) == []

    start = datetime.now(UTC)
    wide = await calendar(api, student, **{"from": start.isoformat(), "to": (start + timedelta(days=60)).isoformat()})
    assert [c["id"] for c in wide] == [sooner["id"], later["id"], far["id"]]
    first = await api.get("me/calendar", params={"limit": 1}, headers=student.headers)
    rest = await api.get("me/calendar", params={"limit": 1, "cursor": first.json()["nextCursor"]}, headers=student.headers)
    assert [c["id"] for c in first.json()["items"] + rest.json()["items"]] == [sooner["id"], later["id"]]

    # Leaving the course takes its classes off at once.
    assert (await api.delete(f"courses/{mine['id']}/enrollments/me", headers=student.headers)).status_code == 204
    assert await calendar(api, student) == []


async def test_calendar_ranges_are_bounded(api, actor):
    student = await actor("student")
    start = datetime(2027, 1, 1, tzinfo=UTC)
    too_long = await api.get("me/calendar", params={"from": start.isoformat(), "to": (start + timedelta(days=93)).isoformat()},
                             headers=student.headers)
    assert too_long.status_code == 422 and too_long.headers["content-type"].startswith("application/problem+json")
    quarter = await api.get("me/calendar", params={"from": start.isoformat(), "to": (start + timedelta(days=92)).isoformat()},
                            headers=student.headers)
    assert quarter.status_code == 200
    backwards = await api.get("me/calendar", params={"from": "2027-02-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
                              headers=student.headers)
    assert backwards.status_code == 400
    assert (await api.get("me/calendar", params={"from": "soon"}, headers=student.headers)).status_code == 400
    # Without `from` the range starts now: a `to` in the past is an empty range turned around.
    past = await api.get("me/calendar", params={"to": "2020-01-01T00:00:00Z"}, headers=student.headers)
    assert past.status_code == 422


async def test_the_feed_is_an_icalendar_of_the_callers_classes_without_sign_in(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    klass = await schedule(api, tutor, course["id"], "Feed class", 3)
    other_tutor = await actor("tutor")
    elsewhere, _ = await published_course(api, other_tutor)
    await schedule(api, other_tutor, elsewhere["id"], "Not the student's", 3)
    await schedule(api, tutor, course["id"], "Beyond the feed's quarter", 120)
    made = await api.post("me/calendar/feed", headers=student.headers)
    assert made.status_code == 201, made.text
    resp = await api.get(feed_path(made.json()["url"]))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(resp.content).walk("VEVENT")
    assert [str(e["uid"]) for e in events] == [f"{klass['id']}@lectern"]
    event = events[0]
    assert str(event["summary"]) == f"{course['title']}: Feed class"
    # iCalendar times have whole seconds.
    assert event.decoded("dtstart") == datetime.fromisoformat(klass["scheduledAt"]).replace(microsecond=0)
    assert klass["id"] in str(event["url"])
    # The same UID on every read, so calendar apps update rather than duplicate.
    again = Calendar.from_ical((await api.get(feed_path(made.json()["url"]))).content).walk("VEVENT")
    assert [str(e["uid"]) for e in again] == [f"{klass['id']}@lectern"]


async def test_a_new_feed_url_retires_the_old_one_and_forged_tokens_are_404(api, actor):
    student, other = await actor("student"), await actor("student")
    old = feed_path((await api.post("me/calendar/feed", headers=student.headers)).json()["url"])
    new = feed_path((await api.post("me/calendar/feed", headers=student.headers)).json()["url"])
    assert old != new
    assert (await api.get(new)).status_code == 200
    retired = await api.get(old)
    assert retired.status_code == 404 and retired.headers["content-type"].startswith("application/problem+json")

    theirs = feed_path((await api.post("me/calendar/feed", headers=other.headers)).json()["url"])
    body, signature = new.removeprefix("calendar/").split(".")
    other_body, other_signature = theirs.removeprefix("calendar/").split(".")
    # The other student's id with this student's version and signature, and the reverse.
    raw = bytearray(base64.urlsafe_b64decode(body + "=="))
    raw[-1] ^= 1  # a version that was never issued
    bumped = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for forged in (
        f"{other_body}.{signature}", f"{body}.{other_signature}", f"{bumped}.{signature}", f"{body}.{flipped}",
        "nonsense", "a.b.c", "x" * 300, f"{body}.",
    ):
        resp = await api.get(f"calendar/{forged}")
        assert resp.status_code == 404, (forged, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert (await api.get(theirs)).status_code == 200
    assert (await api.post("me/calendar/feed")).status_code == 401

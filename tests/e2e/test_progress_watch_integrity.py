"""Watch time is earned by the server's clock, through the HTTP API on the local stack: what a
student with a valid account gets for claiming progress instead of watching it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.support.content import add_lesson, create_course, enrol, publish, register_video
from tests.support.progress import enrolled_earlier

pytestmark = pytest.mark.timeout(120)

RATE = 1.5  # domain/watch.py
ALLOWANCE = 5.0
HEARTBEATS_PER_MINUTE = 120  # LECTERN_RATE_HEARTBEATS_PER_MINUTE in local.settings.sample.json


async def enrolled_in_video(api, actor, *, asset_duration: int | None = 600, **lesson_fields) -> tuple[object, dict, dict]:
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    if lesson_fields.get("kind", "video") == "video" and "videoAssetId" not in lesson_fields:
        lesson_fields["videoAssetId"] = (await register_video(api, tutor, duration_seconds=asset_duration))["id"]
    lesson = await add_lesson(api, tutor, course["id"], **lesson_fields)
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    return student, course, lesson


def beat(watched: float, duration: float) -> dict:
    return {"positionSeconds": watched, "watchedSeconds": watched, "durationSeconds": duration}


async def enrolment_time(stack, student, course_id: str) -> datetime:
    async with await psycopg.AsyncConnection.connect(stack.postgres_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT created_at FROM enrollments WHERE user_id = %s AND course_id = %s", (student.user_id, course_id)
        )
        (at,) = await cur.fetchone()
    return at


# --- heartbeats ------------------------------------------------------------------------
async def test_a_hundred_heartbeats_in_a_second_do_not_complete_a_ten_minute_video(api, actor):
    student, _, video = await enrolled_in_video(api, actor, durationSeconds=600)
    url = f"progress/lessons/{video['id']}"
    started = time.monotonic()
    answers = await asyncio.gather(
        *(api.put(url, json=beat(6.0 * (i + 1), 600), headers=student.headers) for i in range(100))
    )
    elapsed = time.monotonic() - started
    assert {a.status_code for a in answers} == {202}, {a.status_code for a in answers}
    assert not any(a.json()["completed"] for a in answers)
    best = max(a.json()["watchedSeconds"] for a in answers)
    assert best <= ALLOWANCE + elapsed * RATE, f"{best} s watched in {elapsed:.2f} s"

    after = await api.put(url, json=beat(600, 600), headers=student.headers)
    assert after.json()["completed"] is False


async def test_a_video_without_a_stored_duration_cannot_be_completed_by_claiming_a_short_one(api, actor):
    student, course, video = await enrolled_in_video(api, actor, asset_duration=None, durationSeconds=None)
    assert video["durationSeconds"] is None
    url = f"progress/lessons/{video['id']}"
    first = await api.put(url, json=beat(1, 1), headers=student.headers)
    assert first.status_code == 202, first.text
    assert first.json()["completed"] is False and first.json()["watchedSeconds"] == 1
    await asyncio.sleep(1.0)
    again = await api.put(url, json=beat(1, 1), headers=student.headers)
    assert again.status_code == 202 and again.json()["completed"] is False
    assert again.json()["courseProgress"] == 0.0

    synced = await api.post(
        "progress/sync",
        json={"events": [{**beat(1, 1), "lessonId": video["id"], "clientTime": datetime.now(UTC).isoformat()}]},
        headers=student.headers,
    )
    assert synced.status_code == 200, synced.text
    assert [p["completed"] for p in synced.json()["lessons"]] == [False]


async def test_the_lessons_own_duration_decides_completion_not_the_clients(api, actor):
    student, _, video = await enrolled_in_video(api, actor, durationSeconds=600)
    url = f"progress/lessons/{video['id']}"
    short = await api.put(url, json=beat(1, 1), headers=student.headers)
    assert short.status_code == 202 and short.json()["completed"] is False


async def test_an_honest_player_completes_a_short_video(api, actor):
    student, course, video = await enrolled_in_video(api, actor, durationSeconds=6)
    url = f"progress/lessons/{video['id']}"
    started = time.monotonic()
    last = None
    for second in range(1, 7):  # a beat every second, as the video plays
        await asyncio.sleep(max(0.0, started + second - 1 - time.monotonic()))
        last = await api.put(url, json=beat(second, 6), headers=student.headers)
        assert last.status_code in (200, 202), last.text
        if last.json()["completed"]:
            break
    assert last is not None and last.json()["completed"] is True
    assert last.json()["courseProgress"] == 1.0


async def test_rapid_heartbeats_meet_429_with_retry_after(api, actor):
    student, course, video = await enrolled_in_video(api, actor, durationSeconds=600)
    url = f"progress/lessons/{video['id']}"
    statuses: list[int] = []
    refused = None
    started = time.monotonic()
    for _start in range(0, 800, 50):
        answers = await asyncio.gather(*(api.put(url, json=beat(1, 600), headers=student.headers) for _ in range(50)))
        statuses += [a.status_code for a in answers]
        refused = refused or next((a for a in answers if a.status_code == 429), None)
    assert refused is not None, "800 rapid heartbeats by one student meet a 429"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"].startswith("application/problem+json")
    # The burst, then the steady rate (default 120 a minute) for as long as the run took.
    allowed = HEARTBEATS_PER_MINUTE + (time.monotonic() - started) * HEARTBEATS_PER_MINUTE / 60 + 1
    assert statuses.count(202) <= allowed, f"{statuses.count(202)} heartbeats got through"

    # Another student watching the same video is not affected.
    other = await actor("student")
    await enrol(api, other, course["id"])
    assert (await api.put(url, json=beat(1, 600), headers=other.headers)).status_code == 202


# --- offline sync ----------------------------------------------------------------------
def offline(lesson: dict, duration: float, times: list[datetime], per_event: float) -> list[dict]:
    return [
        {"lessonId": lesson["id"], "positionSeconds": per_event * i, "watchedSeconds": per_event * i,
         "durationSeconds": duration, "clientTime": t.isoformat()}
        for i, t in enumerate(times, start=1)
    ]


async def test_offline_events_from_the_future_are_clamped_to_now_and_earn_no_span(api, actor):
    student, _, video = await enrolled_in_video(api, actor, durationSeconds=600)
    now = datetime.now(UTC)
    # Within the tolerance for clock skew, so accepted, but four minutes "ahead" is not viewing.
    events = offline(video, 600, [now + timedelta(seconds=20 * i) for i in range(12)], 20)
    beyond = {**events[0], "clientTime": (now + timedelta(hours=1)).isoformat()}
    resp = await api.post("progress/sync", json={"events": events + [beyond]}, headers=student.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["accepted"] == list(range(12))
    assert [(r["index"], r["reason"]) for r in body["refused"]] == [(12, "clientTime is in the future")]
    (lesson,) = body["lessons"]
    elapsed = (datetime.now(UTC) - now).total_seconds()
    assert lesson["watchedSeconds"] <= ALLOWANCE + elapsed * RATE and lesson["completed"] is False


async def test_offline_events_from_before_the_enrolment_are_refused(api, actor):
    student, _, video = await enrolled_in_video(api, actor, durationSeconds=60)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    events = offline(video, 60, [an_hour_ago + timedelta(seconds=5 * i) for i in range(13)], 5)
    resp = await api.post("progress/sync", json={"events": events}, headers=student.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["accepted"] == [] and body["lessons"] == []
    assert {r["reason"] for r in body["refused"]} == {"clientTime is before the enrolment"}
    assert len(body["refused"]) == 13


async def test_a_fabricated_hour_long_span_sent_in_one_second_earns_no_more_than_the_wall_clock(api, actor, stack):
    student, course, video = await enrolled_in_video(api, actor, durationSeconds=3600)
    await enrolled_earlier(stack.postgres_url, student.user_id, course["id"], timedelta(minutes=2))
    enrolled_at = await enrolment_time(stack, student, course["id"])

    def bound() -> float:
        return ALLOWANCE + (datetime.now(UTC) - enrolled_at).total_seconds() * RATE

    now = datetime.now(UTC)
    hour = [now - timedelta(hours=1) + timedelta(seconds=30 * i) for i in range(121)]  # 0:00 … 1:00, a claim every 30 s
    resp = await api.post("progress/sync", json={"events": offline(video, 3600, hour, 30)}, headers=student.headers)
    assert resp.status_code == 200, resp.text
    (lesson,) = resp.json()["lessons"]
    assert lesson["watchedSeconds"] <= bound() and lesson["completed"] is False
    assert all(r["reason"] == "clientTime is before the enrolment" for r in resp.json()["refused"])

    # Re-sent with the span shifted, replayed, and as single-event batches: none adds up.
    for shift in (0, 7, 13):
        shifted = [t + timedelta(seconds=shift) for t in hour]
        await api.post("progress/sync", json={"events": offline(video, 3600, shifted, 30)}, headers=student.headers)
    for _ in range(10):
        one = offline(video, 3600, [datetime.now(UTC)], 3600)
        await api.post("progress/sync", json={"events": one}, headers=student.headers)
    final = await api.post("progress/sync", json={"events": offline(video, 3600, hour, 30)}, headers=student.headers)
    (lesson,) = final.json()["lessons"]
    assert lesson["watchedSeconds"] <= bound() and lesson["completed"] is False

    # Nor does the next live heartbeat turn the fabricated span into credit.
    live = await api.put(f"progress/lessons/{video['id']}", json=beat(3600, 3600), headers=student.headers)
    assert live.json()["watchedSeconds"] <= bound() and live.json()["completed"] is False

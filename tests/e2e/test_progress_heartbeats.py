"""Video progress through the HTTP API on the local stack: heartbeats up to completion with
the `progress.updated` push arriving over a real WebSocket, the flush timer, skip-ahead,
offline sync, and who may record progress at all."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.support.content import add_lesson, create_course, enrol, eventually, publish
from tests.support.live import connect_personal
from tests.support.progress import enrolled_earlier

pytestmark = pytest.mark.timeout(90)


async def course_with_videos(api, tutor, durations: list[int]) -> tuple[dict, list[dict]]:
    course = await create_course(api, tutor)
    lessons = [await add_lesson(api, tutor, course["id"], title=f"Part {i}", durationSeconds=d) for i, d in enumerate(durations)]
    await publish(api, tutor, course["id"])
    return course, lessons


def beat(watched: float, duration: float, position: float | None = None, **extra: Any) -> dict[str, Any]:
    return {"positionSeconds": watched if position is None else position, "watchedSeconds": watched, "durationSeconds": duration, **extra}


async def test_heartbeats_up_to_completion_push_progress_updated_to_the_student(api, actor, stack):
    tutor, student = await actor("tutor"), await actor("student")
    course, (video, other) = await course_with_videos(api, tutor, [10, 600])
    await enrol(api, student, course["id"])
    url = f"progress/lessons/{video['id']}"

    async with aiohttp.ClientSession() as session:
        socket = await connect_personal(api, session, student)
        try:
            first = await api.put(url, json=beat(5, 10), headers=student.headers)
            assert first.status_code == 202, first.text
            assert first.json() == {
                "lessonId": video["id"], "courseId": course["id"], "completed": False, "courseProgress": 0.0,
                "watchedSeconds": 5.0,
            }
            await asyncio.sleep(3.0)  # the player keeps playing: 3 s × 1.5 pays for the next 4.5 s
            done = await api.put(url, json=beat(9.5, 10), headers=student.headers)
            assert done.status_code == 200, done.text
            assert done.json()["completed"] is True and done.json()["courseProgress"] == 0.5

            pushed = await socket.wait_for(lambda m: m.get("type") == "progress.updated")
            assert pushed["lessonId"] == video["id"] and pushed["courseId"] == course["id"]
            assert pushed["completed"] is True and pushed["courseProgress"] == 0.5
            datetime.fromisoformat(pushed["at"])

            later = await api.put(url, json=beat(10, 10), headers=student.headers)
            assert later.status_code == 202 and later.json()["completed"] is True
            await asyncio.sleep(0.5)
            assert len(socket.of_type("progress.updated")) == 1, "a lesson completes once"
        finally:
            await socket.close()

    # Other lessons' heartbeats carry the course progress along.
    other_beat = await api.put(f"progress/lessons/{other['id']}", json=beat(3, 600), headers=student.headers)
    assert other_beat.status_code == 202 and other_beat.json()["courseProgress"] == 0.5

    async def logged():
        resp = await api.get("me/changes", headers=student.headers)
        kinds = [c["kind"] for c in resp.json()["items"]]
        return kinds if "progress.completed" in kinds else None

    assert await eventually(logged) == ["progress.completed"]


async def test_the_flush_timer_lands_buffered_heartbeats_in_postgres(api, actor, stack):
    tutor, student = await actor("tutor"), await actor("student")
    course, (video,) = await course_with_videos(api, tutor, [600])
    await enrol(api, student, course["id"])
    resp = await api.put(f"progress/lessons/{video['id']}", json=beat(4, 600, position=4), headers=student.headers)
    assert resp.status_code == 202

    async with await psycopg.AsyncConnection.connect(stack.postgres_url, row_factory=dict_row, autocommit=True) as conn:
        async def flushed():
            cur = await conn.execute(
                "SELECT watched_seconds, position_seconds, completed FROM video_progress WHERE user_id = %s AND lesson_id = %s",
                (student.user_id, video["id"]),
            )
            return await cur.fetchone()

        row = await eventually(flushed, timeout=15, interval=0.5)  # the timer runs every 5 s
    assert row == {"watched_seconds": 4.0, "position_seconds": 4.0, "completed": False}


async def test_skipping_ahead_is_not_counted_as_watching(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, (video,) = await course_with_videos(api, tutor, [600])
    await enrol(api, student, course["id"])
    url = f"progress/lessons/{video['id']}"
    assert (await api.put(url, json=beat(2, 600), headers=student.headers)).status_code == 202
    skipped = await api.put(url, json=beat(580, 600, position=580), headers=student.headers)
    assert skipped.status_code == 202
    body = skipped.json()
    assert body["completed"] is False
    assert body["watchedSeconds"] < 10, "seconds skipped are not seconds watched"

    # Claiming a short video does not shorten it: the lesson's own duration counts.
    short = await api.put(url, json=beat(9, 10), headers=student.headers)
    assert short.json()["completed"] is False


async def test_offline_sync_applies_duplicates_and_reordered_events_once(api, actor, stack):
    tutor, student = await actor("tutor"), await actor("student")
    course, (video, second) = await course_with_videos(api, tutor, [60, 600])
    await enrol(api, student, course["id"])
    await enrolled_earlier(stack.postgres_url, student.user_id, course["id"], timedelta(hours=2))  # offline viewing happens after enrolling
    t0 = datetime.now(UTC) - timedelta(hours=1)
    watched = [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]  # played offline, five seconds at a time
    events = [
        {"lessonId": video["id"], "positionSeconds": w, "watchedSeconds": w, "durationSeconds": 60,
         "clientTime": (t0 + timedelta(seconds=w)).isoformat()}
        for w in watched
    ]
    events.append({"lessonId": second["id"], "positionSeconds": 3, "watchedSeconds": 3, "durationSeconds": 600,
                   "clientTime": t0.isoformat()})
    sent = events + events[3:6]  # the queue resent some
    random.Random(7).shuffle(sent)

    resp = await api.post("progress/sync", json={"events": sent}, headers=student.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert sorted(body["accepted"]) == list(range(len(sent))) and body["refused"] == []
    by_lesson = {p["lessonId"]: p for p in body["lessons"]}
    assert by_lesson[video["id"]]["watchedSeconds"] == 55 and by_lesson[video["id"]]["positionSeconds"] == 55
    assert by_lesson[video["id"]]["completed"] is True  # 55 of 60 s passes 90 %
    assert by_lesson[second["id"]]["watchedSeconds"] == 3 and by_lesson[second["id"]]["completed"] is False
    assert by_lesson[video["id"]]["courseProgress"] == 0.5

    # The whole queue sent again, in another order: nothing changes.
    random.Random(8).shuffle(sent)
    again = await api.post("progress/sync", json={"events": sent}, headers=student.headers)
    assert again.status_code == 200
    assert {p["lessonId"]: p for p in again.json()["lessons"]} == by_lesson

    # The next live heartbeat builds on what the sync stored.
    live = await api.put(f"progress/lessons/{video['id']}", json=beat(56, 60), headers=student.headers)
    assert live.status_code == 202 and live.json()["completed"] is True and live.json()["watchedSeconds"] >= 55


async def test_offline_sync_refuses_bad_events_one_by_one(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, (video,) = await course_with_videos(api, tutor, [600])
    other_course, (foreign,) = await course_with_videos(api, tutor, [600])
    await enrol(api, student, course["id"])
    now = datetime.now(UTC)
    good = {"lessonId": video["id"], "positionSeconds": 4, "watchedSeconds": 4, "durationSeconds": 600, "clientTime": now.isoformat()}
    resp = await api.post(
        "progress/sync",
        json={"events": [
            good,
            {**good, "lessonId": foreign["id"]},
            {**good, "lessonId": str(uuid.uuid4())},
            {**good, "watchedSeconds": -1},
            {**good, "clientTime": (now + timedelta(days=1)).isoformat()},
            {**good, "lessonId": "not-a-uuid"},
        ]},
        headers=student.headers,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["accepted"] == [0]
    reasons = {r["index"]: r["reason"] for r in body["refused"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5]
    assert reasons[1] == "not enrolled in this lesson's course"
    assert reasons[2] == "no such lesson"
    assert "watchedSeconds" in reasons[3] and "future" in reasons[4] and "lessonId" in reasons[5]
    assert body["refused"][4]["lessonId"] == "not-a-uuid"

    too_many = await api.post("progress/sync", json={"events": [good] * 501}, headers=student.headers)
    assert too_many.status_code == 400


async def test_only_enrolled_students_record_progress(api, actor):
    tutor, student, stranger, admin, other_tutor = (
        await actor("tutor"), await actor("student"), await actor("student"), await actor("admin"), await actor("tutor"),
    )
    course, (video,) = await course_with_videos(api, tutor, [600])
    await enrol(api, student, course["id"])
    url = f"progress/lessons/{video['id']}"

    assert (await api.put(url, json=beat(1, 600), headers=stranger.headers)).status_code == 403
    for who in (tutor, admin, other_tutor):
        assert (await api.put(url, json=beat(1, 600), headers=who.headers)).status_code == 403
    assert (await api.put(url, json=beat(1, 600))).status_code == 401
    assert (await api.put(f"progress/lessons/{uuid.uuid4()}", json=beat(1, 600), headers=student.headers)).status_code == 404
    assert (await api.put("progress/lessons/nope", json=beat(1, 600), headers=student.headers)).status_code == 404
    assert (await api.put(url, json={"watchedSeconds": "lots"}, headers=student.headers)).status_code == 400
    assert (await api.put(url, json={**beat(1, 600), "extra": 1}, headers=student.headers)).status_code == 400
    assert (await api.put(url, content=b"{not json", headers=student.headers)).status_code == 400
    assert (await api.post("progress/sync", json={"events": []}, headers=student.headers)).status_code == 400

    # A draft course's lesson does not exist for students.
    draft = await create_course(api, tutor)
    hidden = await add_lesson(api, tutor, draft["id"])
    assert (await api.put(f"progress/lessons/{hidden['id']}", json=beat(1, 600), headers=student.headers)).status_code == 404

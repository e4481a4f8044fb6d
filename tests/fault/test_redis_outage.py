"""Redis stops while students send heartbeats and submit quizzes, then comes back empty.

What must hold: every call answers within its timeout (2xx or a 503, never a hang, and
quickly once the breakers are open); every completion the API acknowledged is in
PostgreSQL; every quiz attempt acknowledged is stored exactly once, and a client retrying
the unacknowledged ones with the same Idempotency-Key after the restart ends with exactly
one attempt per key; the effects queued while Redis was away (leaderboard updates) all
ran, each attempt has its one change-log row, and the same host process lived through it.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
import pytest

from shared_code.adapters.redis import client as redis_client
from tests.fault.conftest import Timings, change_log, outbox_settled
from tests.support.actors import new_actor
from tests.support.content import add_lesson, add_quiz, create_course, enrol, publish

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

CALL_BUDGET_SECONDS = 10.0
LESSONS = 6


PHASE = {"timings": Timings("before the outage")}


async def _timed(call):
    started = time.monotonic()
    resp = await call
    elapsed = time.monotonic() - started
    PHASE["timings"].add(elapsed)
    assert elapsed < CALL_BUDGET_SECONDS, f"a call took {elapsed:.1f} s"
    assert resp.status_code < 500 or resp.status_code == 503, resp.text
    return resp


def _beat(watched: float) -> dict:
    return {"positionSeconds": watched, "watchedSeconds": watched, "durationSeconds": 10}


async def test_redis_outage_during_heartbeats_and_quiz_submits_loses_and_duplicates_nothing(fault_api, fault_host):
    tutor, student = await new_actor(fault_api, "tutor"), await new_actor(fault_api, "student")
    course = await create_course(fault_api, tutor)
    lessons = [await add_lesson(fault_api, tutor, course["id"], title=f"L{i}", durationSeconds=10) for i in range(LESSONS)]
    quiz = await add_quiz(fault_api, tutor, course["id"], max_attempts=30)
    await publish(fault_api, tutor, course["id"])
    await enrol(fault_api, student, course["id"])

    completed_acks: set[str] = set()
    keys = [str(uuid.uuid4()) for _ in range(9)]
    acked_keys: set[str] = set()

    async def submit(key: str) -> None:
        resp = await _timed(fault_api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": [[1]]},
                                           headers={**student.headers, "Idempotency-Key": key}))
        if resp.status_code == 201:
            acked_keys.add(key)

    async def beat(lesson: dict, watched: float) -> None:
        resp = await _timed(fault_api.put(f"progress/lessons/{lesson['id']}", json=_beat(watched), headers=student.headers))
        if resp.status_code in (200, 202) and resp.json().get("completed"):
            completed_acks.add(lesson["id"])

    # Redis up: the first half of lessons 0-2 and three attempts.
    for lesson in lessons[:3]:
        await beat(lesson, 5)
    for key in keys[:3]:
        await submit(key)

    pid = fault_host.process.pid
    fault_host.redis.kill()
    while_down = PHASE["timings"] = Timings("while Redis is down")
    await asyncio.sleep(1.0)
    # Redis down: lessons 0-2 finish, lessons 3-5 start and finish, three attempts.
    for lesson in lessons[:3]:
        await beat(lesson, 9.5)
    for lesson in lessons[3:]:
        await beat(lesson, 5)
    await asyncio.sleep(3.0)  # watching on: 3 s × 1.5 pays for the remaining 4.5 s of each 10 s lesson
    for lesson in lessons[3:]:
        await beat(lesson, 9.5)
    for key in keys[3:6]:
        await submit(key)

    fault_host.redis.start()
    PHASE["timings"] = Timings("after the restart")
    await asyncio.sleep(1.0)
    # Redis back (empty): three more attempts, then the client retries every key it never saw acknowledged.
    for key in keys[6:]:
        await submit(key)
    for key in keys:
        if key not in acked_keys:
            await submit(key)

    with psycopg.connect(fault_host.postgres.url) as conn:
        stored_completed = {
            str(r[0]) for r in conn.execute(
                "SELECT lesson_id FROM video_progress WHERE user_id = %s AND completed", (student.user_id,)
            )
        }
        attempts = conn.execute(
            "SELECT count(*) FROM quiz_attempts WHERE user_id = %s AND quiz_id = %s", (student.user_id, quiz["id"])
        ).fetchone()[0]
        attempt_ids = {str(r[0]) for r in conn.execute(
            "SELECT id FROM quiz_attempts WHERE user_id = %s AND quiz_id = %s", (student.user_id, quiz["id"]))}
    queued, poisoned = await outbox_settled(fault_host)
    logged = [row["subjectId"] for row in await change_log(fault_host, student.user_id, "quiz.attempted")]
    board = await fault_api.get(f"courses/{course['id']}/leaderboard", headers=student.headers)
    assert board.status_code == 200, board.text

    lost_completions = completed_acks - stored_completed
    attempted = LESSONS + len(keys)
    acknowledged = len(completed_acks) + len(acked_keys)
    lost = len(lost_completions) + max(0, len(acked_keys) - attempts) + len(attempt_ids - set(logged))
    duplicated = max(0, attempts - len(keys)) + len(logged) - len(set(logged))
    print(f"redis outage: attempted={attempted} acknowledged={acknowledged} lost={lost} duplicated={duplicated} "
          f"(completions acked {len(completed_acks)}/{LESSONS}, attempts stored {attempts}/{len(keys)}, "
          f"change-log rows {len(logged)}, outbox queued {queued}, poisoned {poisoned}; {while_down.summary()})")
    assert lost == 0 and duplicated == 0
    assert queued == 0 and poisoned == 0
    assert board.json()["me"]["points"] == 1, board.json()
    # Once the breakers are open no call waits on Redis's socket timeout.
    assert max(while_down.after_first(5)) < redis_client.SOCKET_TIMEOUT_SECONDS, while_down.summary()
    assert fault_host.process.poll() is None and fault_host.process.pid == pid, "recovered without a host restart"
    assert acked_keys == set(keys), "after the restart every retried attempt is acknowledged"
    assert attempts == len(keys)
    assert completed_acks >= {lesson["id"] for lesson in lessons[3:]}, "with Redis down, heartbeats write through to PostgreSQL"

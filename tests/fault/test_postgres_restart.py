"""PostgreSQL restarts while students submit quizzes; clients retry with the same
Idempotency-Key until they get an answer.

What must hold: no call hangs past its budget (a 503 with Retry-After while the database is
away), and afterwards every key has exactly one stored attempt: none lost, none twice.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
import pytest

from tests.support.actors import new_actor
from tests.support.content import add_quiz, create_course, enrol, publish

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

STUDENTS = 8
SUBMITS_EACH = 3
CALL_BUDGET_SECONDS = 10.0


async def test_postgres_restart_during_quiz_submits_keeps_every_attempt_exactly_once(fault_api, fault_host):
    tutor = await new_actor(fault_api, "tutor")
    course = await create_course(fault_api, tutor)
    quiz = await add_quiz(fault_api, tutor, course["id"], max_attempts=10)
    await publish(fault_api, tutor, course["id"])
    students = [await new_actor(fault_api, "student") for _ in range(STUDENTS)]
    for s in students:
        await enrol(fault_api, s, course["id"])

    stats = {"calls": 0, "503": 0, "slowest": 0.0}
    acked: dict[str, int] = {}

    async def submit_until_answered(student, key: str) -> None:
        for _ in range(60):
            started = time.monotonic()
            try:
                resp = await fault_api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": [[1]]},
                                            headers={**student.headers, "Idempotency-Key": key})
            except Exception:  # noqa: BLE001 - a dropped connection is retried like a 503
                resp = None
            elapsed = time.monotonic() - started
            stats["calls"] += 1
            stats["slowest"] = max(stats["slowest"], elapsed)
            assert elapsed < CALL_BUDGET_SECONDS, f"a submit took {elapsed:.1f} s"
            if resp is not None and resp.status_code == 201:
                acked[key] = acked.get(key, 0) + 1
                return
            if resp is not None:
                assert resp.status_code == 503, resp.text
                assert resp.headers.get("retry-after")
                stats["503"] += 1
            await asyncio.sleep(0.3)
        raise AssertionError(f"key {key} never answered")

    async def student_run(student) -> None:
        for _ in range(SUBMITS_EACH):
            await submit_until_answered(student, str(uuid.uuid4()))
            await asyncio.sleep(0.2)

    async def restart() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(fault_host.postgres.stop)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(fault_host.postgres.start)

    await asyncio.gather(restart(), *(student_run(s) for s in students))

    with psycopg.connect(fault_host.postgres.url) as conn:
        rows = conn.execute(
            "SELECT user_id, count(*) FROM quiz_attempts WHERE quiz_id = %s GROUP BY user_id", (quiz["id"],)
        ).fetchall()
    stored = sum(r[1] for r in rows)
    attempted = STUDENTS * SUBMITS_EACH
    lost = max(0, attempted - stored)
    duplicated = max(0, stored - attempted)
    print(f"postgres restart: attempted={attempted} acknowledged={len(acked)} lost={lost} duplicated={duplicated} "
          f"(calls {stats['calls']}, 503s {stats['503']}, slowest {stats['slowest']:.2f} s)")
    assert len(acked) == attempted
    assert lost == 0 and duplicated == 0
    assert all(len(r) and r[1] == SUBMITS_EACH for r in rows) and len(rows) == STUDENTS

"""PostgreSQL restarts while students submit quizzes; clients retry with the same
Idempotency-Key until they get an answer.

What must hold: no call hangs past its budget (a 503 with Retry-After while the database is
away, and once the breaker is open those come at once instead of after the pool's
timeout), and afterwards every key has exactly one stored attempt: none lost, none twice;
each stored attempt has its one change-log row (an effect that runs after the commit),
and the host that lived through it is the same process.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import psycopg
import pytest

from tests.fault.conftest import Timings, change_log, outbox_settled
from tests.support.actors import new_actor
from tests.support.content import add_quiz, create_course, enrol, publish

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

STUDENTS = 8
SUBMITS_EACH = 3
CALL_BUDGET_SECONDS = 10.0
OUTAGE_SECONDS = 6.0


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
    down = {"now": False}
    while_down = Timings("while PostgreSQL is down")
    pid = fault_host.process.pid

    async def submit_until_answered(student, key: str) -> None:
        for _ in range(120):
            started, during_outage = time.monotonic(), down["now"]
            try:
                resp = await fault_api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": [[1]]},
                                            headers={**student.headers, "Idempotency-Key": key})
            except httpx.TransportError:  # a dropped connection is retried like a 503
                resp = None
            elapsed = time.monotonic() - started
            stats["calls"] += 1
            stats["slowest"] = max(stats["slowest"], elapsed)
            if during_outage and down["now"]:
                while_down.add(elapsed)
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
        down["now"] = True
        await asyncio.sleep(OUTAGE_SECONDS)
        down["now"] = False
        await asyncio.to_thread(fault_host.postgres.start)

    await asyncio.gather(restart(), *(student_run(s) for s in students))

    with psycopg.connect(fault_host.postgres.url) as conn:
        rows = conn.execute(
            "SELECT user_id, count(*) FROM quiz_attempts WHERE quiz_id = %s GROUP BY user_id", (quiz["id"],)
        ).fetchall()
        attempt_ids = {str(r[0]) for r in conn.execute("SELECT id FROM quiz_attempts WHERE quiz_id = %s", (quiz["id"],))}
    queued, poisoned = await outbox_settled(fault_host)
    logged: list[str] = []
    for s in students:
        logged += [row["subjectId"] for row in await change_log(fault_host, s.user_id, "quiz.attempted")]
    stored = sum(r[1] for r in rows)
    attempted = STUDENTS * SUBMITS_EACH
    lost = max(0, attempted - stored) + len(attempt_ids - set(logged))
    duplicated = max(0, stored - attempted) + (len(logged) - len(set(logged)))
    print(f"postgres restart: attempted={attempted} acknowledged={len(acked)} lost={lost} duplicated={duplicated} "
          f"(calls {stats['calls']}, 503s {stats['503']}, slowest {stats['slowest']:.2f} s; {while_down.summary()}; "
          f"change-log rows {len(logged)}, outbox queued {queued}, poisoned {poisoned})")
    assert len(acked) == attempted
    assert lost == 0 and duplicated == 0
    assert all(len(r) and r[1] == SUBMITS_EACH for r in rows) and len(rows) == STUDENTS
    assert set(logged) == attempt_ids and queued == 0 and poisoned == 0
    # The breaker: once open, calls during the outage are refused at once, not after the
    # pool's 5 s wait; and the host recovered by itself, without a restart.
    assert len(while_down.seconds) >= STUDENTS, f"too few calls were timed while PostgreSQL was down: {while_down.summary()}"
    fast = [t for t in while_down.seconds if t < 0.5]
    assert len(fast) >= len(while_down.seconds) // 2, while_down.summary()
    assert fault_host.process.poll() is None and fault_host.process.pid == pid

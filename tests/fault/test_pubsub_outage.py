"""The Web PubSub service stops while quizzes are graded: the attempts are acknowledged,
their `quiz.graded` pushes go to the outbox queue, and once the service is back the queue
trigger delivers every one of them, leaving nothing queued and nothing poisoned. While it
is down, the breaker makes answers quick: after the failures that open it, a submit no
longer waits on the unreachable service at all."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest

from shared_code.adapters import webpubsub as webpubsub_adapter
from tests.fault.conftest import Timings, outbox_settled
from tests.support.actors import new_actor
from tests.support.content import add_quiz, create_course, enrol, publish
from tests.support.live import connect_personal

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

SUBMITS = 10
BREAKER_THRESHOLD = 5  # failures that open a breaker (shared_code/circuit.py)
CALL_BUDGET_SECONDS = 10.0


async def test_pushes_made_while_web_pubsub_is_down_arrive_after_it_returns(fault_api, fault_host):
    tutor, student = await new_actor(fault_api, "tutor"), await new_actor(fault_api, "student")
    course = await create_course(fault_api, tutor)
    quiz = await add_quiz(fault_api, tutor, course["id"], max_attempts=10)
    await publish(fault_api, tutor, course["id"])
    await enrol(fault_api, student, course["id"])

    pid = fault_host.process.pid
    fault_host.pubsub.stop()
    attempt_ids = []
    while_down = Timings("submits while Web PubSub is down")
    for _ in range(SUBMITS):
        started = time.monotonic()
        resp = await fault_api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": [[1]]},
                                    headers={**student.headers, "Idempotency-Key": str(uuid.uuid4())})
        while_down.add(time.monotonic() - started)
        assert while_down.slowest < CALL_BUDGET_SECONDS
        assert resp.status_code == 201, resp.text
        attempt_ids.append(resp.json()["attemptId"])
    await asyncio.sleep(4)  # the first retries fail too: the service is still down
    fault_host.pubsub.start()

    async with aiohttp.ClientSession() as session:
        socket = await connect_personal(fault_api, session, student)
        try:
            for attempt_id in attempt_ids:
                await socket.wait_for(
                    lambda m, a=attempt_id: m.get("type") == "quiz.graded" and m.get("attemptId") == a, timeout=60
                )
        finally:
            await socket.close()
    delivered = len({m.get("attemptId") for m in socket.of_type("quiz.graded")} & set(attempt_ids))

    queued, poisoned = await outbox_settled(fault_host)
    duplicated = max(0, len(socket.of_type("quiz.graded")) - delivered)
    print(f"web pubsub outage: attempted={SUBMITS} acknowledged={len(attempt_ids)} lost={SUBMITS - delivered} "
          f"duplicated={duplicated} poisoned={poisoned} ({while_down.summary()})")
    assert delivered == SUBMITS and duplicated == 0
    assert queued == 0 and poisoned == 0
    # Once the breaker is open no call waits for Web PubSub: each answers well inside the
    # client's timeout (half of it, so a call that waited it out could not pass).
    assert max(while_down.after_first(BREAKER_THRESHOLD)) < webpubsub_adapter.TIMEOUT_SECONDS / 2, while_down.summary()
    assert fault_host.process.poll() is None and fault_host.process.pid == pid, "recovered without a host restart"

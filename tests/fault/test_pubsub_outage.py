"""The Web PubSub service stops while quizzes are graded: the attempts are acknowledged,
their `quiz.graded` pushes go to the outbox queue, and once the service is back the queue
trigger delivers every one of them, leaving nothing queued and nothing poisoned."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest
from azure.storage.queue.aio import QueueClient

from tests.support.actors import new_actor
from tests.support.content import add_quiz, create_course, enrol, publish
from tests.support.live import connect_personal

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

SUBMITS = 4
CALL_BUDGET_SECONDS = 10.0


async def _queue_length(connection_string: str, name: str) -> int:
    async with QueueClient.from_connection_string(connection_string, name) as queue:
        try:
            return (await queue.get_queue_properties()).approximate_message_count or 0
        except Exception:  # noqa: BLE001 - a queue never created holds nothing
            return 0


async def test_pushes_made_while_web_pubsub_is_down_arrive_after_it_returns(fault_api, fault_host):
    tutor, student = await new_actor(fault_api, "tutor"), await new_actor(fault_api, "student")
    course = await create_course(fault_api, tutor)
    quiz = await add_quiz(fault_api, tutor, course["id"], max_attempts=10)
    await publish(fault_api, tutor, course["id"])
    await enrol(fault_api, student, course["id"])

    fault_host.pubsub.stop()
    attempt_ids = []
    for _ in range(SUBMITS):
        started = time.monotonic()
        resp = await fault_api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": [[1]]},
                                    headers={**student.headers, "Idempotency-Key": str(uuid.uuid4())})
        assert time.monotonic() - started < CALL_BUDGET_SECONDS
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

    async def drained() -> bool:
        return await _queue_length(fault_host.azurite.connection_string, fault_host.outbox_queue) == 0

    for _ in range(50):
        if await drained():
            break
        await asyncio.sleep(0.2)
    poisoned = await _queue_length(fault_host.azurite.connection_string, f"{fault_host.outbox_queue}-poison")
    print(f"web pubsub outage: attempted={SUBMITS} acknowledged={len(attempt_ids)} lost={SUBMITS - delivered} "
          f"duplicated={max(0, len(socket.of_type('quiz.graded')) - delivered)} poisoned={poisoned}")
    assert delivered == SUBMITS
    assert await drained() and poisoned == 0

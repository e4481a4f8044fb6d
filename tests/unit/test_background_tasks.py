"""Draining the background tasks at shutdown (and after each integration test) waits for
the running ones and never spins on a finished one.

Seen once in a full run on Python 3.13: a test's teardown spun in `drain` for its whole
timeout on one finished task still in the set. Its done-callback, which removes it, was
queued on the loop; from Python 3.12 `asyncio.gather` of finished tasks completes at once
without yielding, so each pass gathered the same task again and the callback never ran.
"""

from __future__ import annotations

import asyncio

import pytest

from shared_code.concurrency import BackgroundTasks

pytestmark = pytest.mark.unit


async def test_drain_waits_for_running_tasks_and_those_they_start() -> None:
    tasks = BackgroundTasks()
    finished: list[str] = []

    async def second() -> None:
        await asyncio.sleep(0.01)
        finished.append("second")

    async def first() -> None:
        await asyncio.sleep(0.01)
        tasks.spawn(second())
        finished.append("first")

    tasks.spawn(first())
    await tasks.drain()
    assert finished == ["first", "second"]
    assert len(tasks) == 0


async def test_a_finished_task_still_in_the_set_does_not_keep_drain_waiting() -> None:
    tasks = BackgroundTasks()
    done = tasks.spawn(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    assert done.done() and len(tasks) == 0
    tasks._tasks.add(done)  # as when its done-callback has not removed it yet

    await asyncio.wait_for(tasks.drain(), timeout=2)
    assert len(tasks) == 0

"""Throttled broadcasts: a storm of changes becomes a few broadcasts, and the last change is
always in the last broadcast.

The flag store here is a set in memory standing in for Redis' SET NX; the decisions
under test (who schedules, when the flag clears) are the Throttle's own.
"""

import asyncio
import logging
import time

from shared_code.services.live.messages import Throttle


class Room:
    """A class's state and what was broadcast, with a pending flag per key."""

    def __init__(self) -> None:
        self.count = 0
        self.flags: set[str] = set()
        self.sent: list[tuple[float, int]] = []
        self.claims = 0

    async def claim(self, ctx, key: str) -> bool:
        self.claims += 1
        if key in self.flags:
            return False
        self.flags.add(key)
        return True

    async def flush(self, ctx, key: str) -> None:
        # Clearing the flag and reading the state happen together, as in the Redis script.
        self.flags.discard(key)
        self.sent.append((time.monotonic(), self.count))


async def test_a_burst_of_changes_is_one_broadcast_with_the_final_state():
    room = Room()
    throttle = Throttle("presence", room.claim, room.flush)
    scheduled = 0
    for _ in range(500):
        room.count += 1
        scheduled += await throttle.changed(None, "class-1", 0.05)
    await throttle.drain()
    assert scheduled == 1
    assert [count for _, count in room.sent] == [500]
    assert room.claims == 1, "while its own flush is scheduled, a process does not ask the flag store again"


async def test_another_process_holding_the_flag_means_no_flush_here():
    room = Room()
    room.flags.add("class-1")  # another worker claimed it and will flush
    throttle = Throttle("presence", room.claim, room.flush)
    assert not await throttle.changed(None, "class-1", 0.01)
    await throttle.drain()
    assert room.sent == []


class VirtualClock:
    """Time that moves only when the test says so: `sleep` waits for `advance`."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future]] = []

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, wake))
        await wake

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [(at, f) for at, f in self._sleepers if at <= self.now + 1e-9]
        self._sleepers = [(at, f) for at, f in self._sleepers if at > self.now + 1e-9]
        for _, wake in due:
            wake.set_result(None)
        for _ in range(5):  # let the woken flushes run to completion
            await asyncio.sleep(0)


async def test_changes_spread_over_time_are_capped_by_the_interval_and_none_is_lost():
    room = Room()
    clock = VirtualClock()
    interval = 0.04

    async def flush(ctx, key):
        room.flags.discard(key)
        room.sent.append((clock.now, room.count))

    throttle = Throttle("presence", room.claim, flush, sleep=clock.sleep)
    for _ in range(60):  # a change every 5 ms for 300 ms
        room.count += 1
        await throttle.changed(None, "class-1", interval)
        await clock.advance(0.005)
    await clock.advance(interval)
    await throttle.drain()
    assert room.sent[-1][1] == 60, "the last change must be broadcast"
    assert len(room.sent) <= 0.3 / interval + 2
    gaps = [b[0] - a[0] for a, b in zip(room.sent, room.sent[1:], strict=False)]
    assert gaps and all(g >= interval - 1e-9 for g in gaps)


async def test_a_change_after_a_flush_schedules_the_next_one():
    room = Room()
    throttle = Throttle("tally", room.claim, room.flush)
    room.count = 1
    assert await throttle.changed(None, "k", 0.01)
    await throttle.drain()
    room.count = 2
    assert await throttle.changed(None, "k", 0.01)
    await throttle.drain()
    assert [c for _, c in room.sent] == [1, 2]


async def test_keys_are_throttled_independently():
    room = Room()
    throttle = Throttle("presence", room.claim, room.flush)
    assert await throttle.changed(None, "class-a", 0.01)
    assert await throttle.changed(None, "class-b", 0.01)
    assert not await throttle.changed(None, "class-a", 0.01)
    await throttle.drain()
    assert len(room.sent) == 2


async def test_a_failing_flush_is_logged_and_the_next_change_schedules_again(caplog):
    calls = 0

    async def broken_once(ctx, key):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("pubsub down")

    room = Room()
    throttle = Throttle("presence", lambda ctx, key: room.claim(ctx, key), broken_once)
    with caplog.at_level(logging.ERROR, logger="lectern.live"):
        assert await throttle.changed(None, "k", 0.001)
        await throttle.drain()
    failures = [r for r in caplog.records if "presence broadcast for k failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info and "pubsub down" in str(failures[0].exc_info[1])
    room.flags.clear()  # the pending flag's expiry in Redis
    assert await throttle.changed(None, "k", 0.001), "after a failed flush a new change must schedule again"
    await throttle.drain()
    assert calls == 2

"""Single flight: concurrent misses of one key share one load; failures and cancellations behave."""

from __future__ import annotations

import asyncio

import pytest

from shared_code.concurrency import Breaker, SingleFlight
from shared_code.domain.cache_entries import accept, entry


async def test_concurrent_callers_of_one_key_share_one_load():
    flights = SingleFlight()
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return 42

    results = await asyncio.gather(*(flights.run("k", load) for _ in range(500)))
    assert calls == 1 and set(results) == {42} and len(flights) == 0


async def test_different_keys_load_separately():
    flights = SingleFlight()
    seen: list[str] = []

    async def load(key: str) -> str:
        seen.append(key)
        await asyncio.sleep(0)
        return key

    assert await asyncio.gather(flights.run("a", lambda: load("a")), flights.run("b", lambda: load("b"))) == ["a", "b"]
    assert sorted(seen) == ["a", "b"]


async def test_a_failed_load_reaches_every_waiter_and_the_next_call_retries():
    flights = SingleFlight()
    attempts = 0

    async def load() -> str:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        if attempts == 1:
            raise RuntimeError("database hiccup")
        return "ok"

    outcomes = await asyncio.gather(*(flights.run("k", load) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert await flights.run("k", load) == "ok" and attempts == 2


async def test_a_cancelled_caller_does_not_cancel_the_load_others_wait_for():
    flights = SingleFlight()
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "done"

    first = asyncio.create_task(flights.run("k", load))
    second = asyncio.create_task(flights.run("k", load))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first


def test_entries_are_accepted_only_under_the_generation_they_were_read_in():
    raw = entry("g1", {"id": "x"})
    assert accept(raw, "g1", {}) == {"id": "x"}
    assert accept(raw, "g2", {}) is None
    assert accept(raw, None, {}) is None
    assert accept("not json", "g1", {}) is None


def test_the_breaker_opens_on_a_failure_and_closes_after_its_cooldown():
    breaker = Breaker(cooldown_seconds=0.05)
    assert breaker.closed
    breaker.trip("read", ConnectionError())
    assert not breaker.closed
    import time

    time.sleep(0.06)
    assert breaker.closed

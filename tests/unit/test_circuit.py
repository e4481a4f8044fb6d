"""A breaker opens after repeated failures, fails fast while open, and probes its way back."""

from __future__ import annotations

import pytest

from shared_code.circuit import CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(OSError):
        async with breaker.guard():
            raise OSError("down")


async def _succeed(breaker: CircuitBreaker) -> None:
    async with breaker.guard():
        pass


async def test_breaker_opens_after_threshold_and_fails_fast():
    clock = Clock()
    breaker = CircuitBreaker("tables", threshold=3, cooldown=10, clock=clock)
    for _ in range(3):
        await _fail(breaker)
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen) as err:
        await _succeed(breaker)
    assert err.value.status == 503
    assert 1 <= err.value.retry_after <= 11


async def test_one_probe_after_cooldown_closes_it_on_success():
    clock = Clock()
    breaker = CircuitBreaker("pubsub", threshold=1, cooldown=5, clock=clock)
    await _fail(breaker)
    clock.now = 6
    assert breaker.state == "half-open"
    await _succeed(breaker)
    assert breaker.state == "closed"


async def test_a_failed_probe_reopens_and_only_one_probe_runs_at_a_time():
    clock = Clock()
    breaker = CircuitBreaker("blobs", threshold=1, cooldown=5, clock=clock)
    await _fail(breaker)
    clock.now = 6
    async with breaker.guard():
        with pytest.raises(CircuitOpen):
            async with breaker.guard():
                pass
        # the probe itself fails below
        pass
    assert breaker.state == "closed"
    await _fail(breaker)
    assert breaker.state == "open"
    clock.now = 12
    await _fail(breaker)
    assert breaker.state == "open"


async def test_successes_reset_the_failure_count():
    breaker = CircuitBreaker("tables", threshold=2, cooldown=5, clock=Clock())
    await _fail(breaker)
    await _succeed(breaker)
    await _fail(breaker)
    assert breaker.state == "closed"


async def test_errors_that_are_not_failures_do_not_open_it():
    breaker = CircuitBreaker("tables", threshold=1, cooldown=5, clock=Clock(), is_failure=lambda e: isinstance(e, OSError))
    with pytest.raises(KeyError):
        async with breaker.guard():
            raise KeyError("client mistake")
    assert breaker.state == "closed"


async def test_a_cancelled_probe_lets_the_next_call_probe():
    import asyncio

    clock = Clock()
    breaker = CircuitBreaker("pubsub", threshold=1, cooldown=5, clock=clock)
    await _fail(breaker)
    clock.now = 6
    with pytest.raises(asyncio.CancelledError):
        async with breaker.guard():
            raise asyncio.CancelledError()
    assert breaker.state == "half-open"
    await _succeed(breaker)  # admitted as the next probe, not refused
    assert breaker.state == "closed"


def test_only_outages_count_as_database_failures():
    import psycopg
    import psycopg_pool
    from psycopg import errors

    from shared_code.circuit import database_failure

    assert database_failure(psycopg_pool.PoolTimeout("no connection in 5 s"))
    assert database_failure(psycopg.OperationalError("connection refused"))  # no SQLSTATE: the client's own
    assert database_failure(errors.AdminShutdown("terminating connection"))
    assert database_failure(errors.ConnectionFailure("lost"))
    assert not database_failure(errors.LockNotAvailable("lock timeout"))
    assert not database_failure(errors.QueryCanceled("statement timeout"))
    assert not database_failure(errors.UniqueViolation("duplicate key"))
    assert not database_failure(ValueError("a bug of ours"))

"""Circuit breakers: stop waiting on a dependency that is down, and find out by itself
when it is back.

One breaker per remote dependency, shared by the whole process. After `threshold`
consecutive failures the breaker opens: calls fail at once with `CircuitOpen` (a 503 with
`Retry-After`, or a queued retry for outbox effects) instead of each waiting for a
timeout. After `cooldown` seconds it lets one probe call through (half-open); the probe's
success closes it, its failure opens it again.

Where they sit: PostgreSQL (`adapters/postgres/pool.py`: a connection that cannot be had
or breaks under a query), Redis (`adapters/redis/client.py`: connecting, failing as the
`ConnectionError` every Redis caller already falls back on), Table, Blob and Queue
storage and Web PubSub (their adapters, around each call).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg
import psycopg_pool
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from shared_code import metrics
from shared_code.errors import ServiceUnavailable

logger = logging.getLogger("lectern.circuit")


class CircuitOpen(ServiceUnavailable):
    type_slug = "dependency-unavailable"


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        threshold: int = 5,
        cooldown: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        is_failure: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._is_failure = is_failure or (lambda exc: True)
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def admit(self) -> bool:
        """True when this call may go to the dependency (and is the probe if half-open).
        A caller that is admitted must report `record_success` or `record_failure`."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._probing:
            self._probing = True
            metrics.breaker(self.name, "half-open")
            return True
        return False

    def record_success(self) -> None:
        if self._opened_at is not None:
            logger.info("circuit %s closed: dependency answered again", self.name)
            metrics.breaker(self.name, "closed")
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        was_probe = self._probing
        self._probing = False
        if was_probe or self._failures >= self.threshold:
            if self._opened_at is None or was_probe:
                logger.warning("circuit %s open after %s failures", self.name, self._failures)
                metrics.breaker(self.name, "open")
            self._opened_at = self._clock()

    def release_probe(self) -> None:
        """The admitted call ended without telling anything about the dependency (it was
        cancelled): let the next call probe instead."""
        self._probing = False

    def retry_after(self) -> int:
        if self._opened_at is None:
            return 1
        return max(1, int(self.cooldown - (self._clock() - self._opened_at)) + 1)

    def refusal(self) -> CircuitOpen:
        """The error a call gets while the breaker does not admit it (a 503 with Retry-After)."""
        return CircuitOpen(f"{self.name} is unavailable; retry shortly.", retry_after=self.retry_after())

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Wraps one call to the dependency."""
        if not self.admit():
            raise self.refusal()
        try:
            yield
        except BaseException as exc:
            if not isinstance(exc, Exception):
                self.release_probe()  # cancelled: says nothing about the dependency
            elif self._is_failure(exc):
                self.record_failure()
            else:
                # The dependency answered; the error is the request's (a 404, a unique key).
                self.record_success()
            raise
        else:
            self.record_success()


def remote_failure(exc: BaseException) -> bool:
    """Errors that say the dependency is down or broken, not that our request was wrong."""
    if isinstance(exc, (ServiceRequestError, ServiceResponseError, asyncio.TimeoutError, OSError)):
        return True
    if isinstance(exc, HttpResponseError):
        return exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429
    return False


# SQLSTATEs that mean the server is going away or not accepting connections (class 08 is
# "connection exception"); anything else is an answer about the query, not an outage.
_SERVER_GONE = frozenset({"57P01", "57P02", "57P03"})


def database_failure(exc: BaseException) -> bool:
    """PostgreSQL unreachable, shutting down, or no connection to be had in time. Lock
    timeouts, cancelled statements and constraint violations are answers, not outages."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in _SERVER_GONE
    return isinstance(exc, OSError)

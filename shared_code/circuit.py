"""Circuit breakers: stop waiting on a dependency that is down, and find out by itself
when it is back.

One breaker per remote dependency, shared by the whole process. After `threshold`
consecutive failures the breaker opens: calls fail at once with `CircuitOpen` (a 503 with
`Retry-After`, or a queued retry for outbox effects) instead of each waiting for a
timeout. After `cooldown` seconds it lets one probe call through (half-open); the probe's
success closes it, its failure opens it again.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable

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

    def _admit(self) -> bool:
        """True when this call may go to the dependency (and is the probe if half-open)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        if self._opened_at is not None:
            logger.info("circuit %s closed: dependency answered again", self.name)
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
            self._opened_at = self._clock()

    def retry_after(self) -> int:
        if self._opened_at is None:
            return 1
        return max(1, int(self.cooldown - (self._clock() - self._opened_at)) + 1)

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Wraps one call to the dependency."""
        if not self._admit():
            raise CircuitOpen(f"{self.name} is unavailable; retry shortly.", retry_after=self.retry_after())
        try:
            yield
        except BaseException as exc:
            if self._is_failure(exc):
                self.record_failure()
            else:
                self.record_success()
            raise
        else:
            self.record_success()


def remote_failure(exc: BaseException) -> bool:
    """Errors that say the dependency is down or broken, not that our request was wrong."""
    import asyncio

    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, (ServiceRequestError, ServiceResponseError, asyncio.TimeoutError, OSError)):
        return True
    if isinstance(exc, HttpResponseError):
        return exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429
    return False

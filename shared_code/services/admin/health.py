"""Health of every dependency, checked concurrently with a short timeout each.

`/api/health` is public, so it answers from a recent result instead of running six checks
per call: a flood of health requests costs each store at most one check per
`MAX_AGE_SECONDS` per process. While a check runs, every caller that needs a fresh
answer waits for that same check; none starts another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared_code.context import AppContext

CHECK_TIMEOUT_SECONDS = 3.0
MAX_AGE_SECONDS = 5.0


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, str]
    finished: float  # time.monotonic() when the check finished, for its age
    checked_at: datetime  # the same moment on the wall clock, for readers

    @property
    def ok(self) -> bool:
        return all(v == "ok" for v in self.checks.values())


async def _check(probe: Callable[[], Awaitable[object]]) -> str:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        return f"error: {type(exc).__name__}"


async def check_all(ctx: AppContext) -> dict[str, str]:
    probes: dict[str, Callable[[], Awaitable[object]]] = {
        "postgres": ctx.db.ping,
        "redis": ctx.redis.ping,
        "tables": ctx.tables.ping,
        "blobs": ctx.blobs.ping,
        "queues": ctx.queues.ping,
        "webpubsub": ctx.pubsub.ping,
    }
    results = await asyncio.gather(*(_check(p) for p in probes.values()))
    return dict(zip(probes, results, strict=False))


class HealthMonitor:
    """The latest health report of this process, at most `max_age` seconds old."""

    def __init__(self, max_age: float = MAX_AGE_SECONDS) -> None:
        self.max_age = max_age
        self.checks_run = 0
        self._latest: HealthReport | None = None
        self._running: asyncio.Task[HealthReport] | None = None

    async def _run(self, ctx: AppContext) -> HealthReport:
        self.checks_run += 1
        checks = await check_all(ctx)
        report = HealthReport(checks=checks, finished=time.monotonic(), checked_at=datetime.now(UTC))
        self._latest = report
        return report

    async def report(self, ctx: AppContext) -> HealthReport:
        latest = self._latest
        if latest is not None and time.monotonic() - latest.finished <= self.max_age:
            return latest
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._run(ctx))
        # Shielded: a caller that gives up does not cancel the check the others wait for.
        return await asyncio.shield(self._running)

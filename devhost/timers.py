"""Timer triggers: run each timer function on its schedule, one invocation at a time.

The function gets an `azure.functions.timer.TimerRequest`. `past_due` is true when the
invocation starts noticeably later than its scheduled time, which happens when the
previous invocation (with its retries) ran past one or more occurrences: those missed
occurrences collapse into one late invocation instead of piling up, as the host does.
`runOnStartup` invokes the function once when the host starts. A retry policy re-runs a
failed invocation within the same occurrence. Timer runs log their Executing/Executed
lines at DEBUG unless they fail or take long (see `QUIET_UNTIL_SECONDS`): a timer every
few seconds would otherwise fill the log with runs that found nothing to do.

Times are UTC unless the `WEBSITE_TIME_ZONE` app setting names an IANA zone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from azure.functions.timer import TimerRequest

from devhost.connections import resolve_app_settings
from devhost.host_config import format_timespan
from devhost.indexing import IndexedFunction
from devhost.invocation import Invoker, RetryState
from devhost.ncrontab import Schedule, ScheduleError, parse_schedule
from devhost.retry_policy import RetryPolicy

logger = logging.getLogger("devhost")

# Lateness below this is the event loop's normal jitter, not a missed schedule.
PAST_DUE_TOLERANCE = timedelta(milliseconds=500)


def timer_zone(environ: Mapping[str, str]) -> tzinfo:
    name = environ.get("WEBSITE_TIME_ZONE", "").strip()
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"WEBSITE_TIME_ZONE '{name}' is not an IANA time zone") from None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class TimerRunner:
    """Runs one timer-triggered function until stopped."""

    def __init__(
        self,
        function: IndexedFunction,
        environ: Mapping[str, str],
        invoker: Invoker,
        retry: RetryPolicy | None,
    ) -> None:
        self.function = function
        self.schedule: Schedule = parse_schedule(resolve_app_settings(str(function.trigger["schedule"]), environ))
        self.zone = timer_zone(environ)
        self.run_on_startup = bool(function.trigger.get("runOnStartup"))
        self.invoker = invoker
        self.retry = retry
        self.last: datetime | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return datetime.now(self.zone)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"timer:{self.function.name}")

    async def stop(self, drain_seconds: float) -> None:
        """Stops scheduling; an invocation under way gets `drain_seconds` to finish."""
        self._stopping.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=drain_seconds)
        if not done:
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        if self.run_on_startup:
            await self._fire(self.now(), past_due=False)
        self.last = self.now()
        while not self._stopping.is_set():
            due = self.schedule.next_after(self.last)
            now = self.now()
            if due > now:
                try:
                    await asyncio.wait_for(self._stopping.wait(), (due - now).total_seconds())
                    return
                except TimeoutError:
                    pass
            now = self.now()
            # Missed occurrences (a long previous run) collapse into this one late invocation.
            while (following := self.schedule.next_after(due)) <= now:
                due = following
            await self._fire(due, past_due=now - due > PAST_DUE_TOLERANCE)
            self.last = due

    def _request(self, due: datetime, past_due: bool) -> TimerRequest:
        status = {
            "Last": _iso(self.last) if self.last else None,
            "Next": _iso(self.schedule.next_after(due)),
            "LastUpdated": _iso(self.now()),
        }
        return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})

    async def _fire(self, due: datetime, past_due: bool) -> None:
        """One occurrence: the invocation and, with a retry policy, its retries."""
        attempt = 0
        error: BaseException | None = None
        max_retries = self.retry.max_retry_count if self.retry else 0
        while True:
            result = await self.invoker.invoke(
                self.function,
                {self.function.trigger_name: self._request(due, past_due)},
                reason=f"Timer fired at {_iso(self.now())}",
                retry=RetryState(attempt, max_retries, error),
                # A run on schedule that does nothing is routine; a retry of a failed one is not.
                quiet=attempt == 0,
            )
            if result.succeeded or self.retry is None or not self.retry.allows(attempt + 1):
                return
            error = result.error
            attempt += 1
            delay = self.retry.delay_before(attempt)
            logger.info(
                "Waiting for `%s` before retrying function execution. Next attempt: '%d'. Max retry count: '%d'.",
                format_timespan(delay), attempt, max_retries,
            )
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
                return
            except TimeoutError:
                pass

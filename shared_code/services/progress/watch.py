"""Video progress: heartbeats (write-behind through Redis), completion (written through at
once), offline sync, and the flush that lands snapshots in PostgreSQL.

Why it is shaped this way:

- **The heartbeat is the hot path.** The access check comes from the content cache (one
  Redis round trip when warm) and the snapshot is recorded by one script call, so a
  heartbeat answers 202 without touching PostgreSQL. A timer flushes dirty snapshots in
  batches; losing Redis loses at most one flush interval of such progress.
- **Watched time is earned, not claimed, and the server's clock pays for it.** Each
  (student, lesson) carries a watch credit: the seconds of viewing the server's clock has
  paid for and the player has not yet claimed. Between two heartbeats the credit grows by
  the wall-clock time between them × `RATE` (playback at up to 1.5×); a heartbeat's claim is
  taken up to the credit and the rest is carried, but never more than `ALLOWANCE_SECONDS`
  of it. Only a session's first heartbeat (none before, or a pause longer than
  `GAP_LIMIT_SECONDS`) starts with the allowance. So over any stretch of a session the
  watched time grows by at most the allowance + the wall-clock time × `RATE`, however many
  requests carry the claims: a hundred heartbeats in a second earn what one does, and
  seeking ahead (or pausing, then seeking) is not watching. Watched time never exceeds the
  duration and never moves backwards. The rule is `earn`; the Redis script applies it step
  for step, the write-through path (Redis down) applies `earn` itself, and the flush
  carries the credit to PostgreSQL so either path goes on from the same balance.
- **The server's duration decides completion.** A lesson's stored duration is what counts;
  the client's `durationSeconds` only ever caps what it may record. A video lesson
  without a stored duration records position and watched time but cannot complete until
  the tutor or its video asset gives it one.
- **Offline sync obeys the same bound.** Client times are hints: an event's time is
  clamped to the server's clock (nothing later than now; too far ahead is refused) and an
  event from before the student's enrolment is refused. Events are then applied through
  `earn` in time order, on the same timeline as online heartbeats (`updated_at`), so a
  batch earns at most the allowance + the span its events cover × `RATE`; events no newer
  than what is stored cannot continue it, and a late batch from the past (another device)
  counts only on its own, never added to what is there. Replays and re-sent batches
  therefore add nothing beyond the wall-clock bound.
- **Only video lessons are watched.** A quiz lesson completes when its quiz is passed, a
  document lesson when its material is opened (`completion.py`); a heartbeat on either is
  a 422 that names the way it does complete. The kind comes with the lesson the access
  check already read (the content cache), so refusing costs no round trip, and nothing
  for such a lesson ever enters the Redis snapshots or the flush.
- **Heartbeats are metered per student** (`LECTERN_RATE_HEARTBEATS_PER_MINUTE`, a burst
  of as many): a player beats every few seconds, a script that hammers the endpoint gets
  429 with `Retry-After`. The heartbeat script applies the rate in the same call that
  records (one round trip); while Redis is down the limit fails open, as every write
  limit does.
- **Completion is never lost.** Crossing the threshold writes the completion to
  PostgreSQL before the answer (200); only then does the student hear about it. Every
  write merges with GREATEST semantics, so retries, duplicates and out-of-order writes
  (flush, sync, write-through) are harmless and in any order reach the same row.
- **Redis down is slower, not broken.** A heartbeat then writes through to PostgreSQL
  with the same rule, against the row's last heartbeat time and stored credit.
"""


from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from shared_code.adapters.postgres import progress as progress_sql
from shared_code.adapters.postgres.progress import ProgressWrite
from shared_code.adapters.redis import progress as progress_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.ratelimit import Decision, emission_interval_ms
from shared_code.domain.watch import (
    ALLOWANCE_SECONDS,
    GAP_LIMIT_SECONDS,
    NEVER,
    RATE,
    Watch,
    course_fraction,
    earn,
    held_duration,
    is_complete,
    millis,
    stored_watch,
)
from shared_code.errors import Invalid, NotFound, RateLimited
from shared_code.models.progress import Heartbeat, HeartbeatResult
from shared_code.platform.access import CourseAccess
from shared_code.services.progress import completion
from shared_code.services.progress.completion import cached_course_progress, enrolled_lesson, not_watched

# The names the handlers, the timer and the benchmarks call this module by: the offline
# sync and the flush live beside it (`sync.py`, `flush.py`), the rule in `domain/watch.py`.
from shared_code.services.progress.flush import FlushReport, dirty_snapshots, flush_dirty
from shared_code.services.progress.sync import sync_events

__all__ = [
    "ALLOWANCE_SECONDS",
    "GAP_LIMIT_SECONDS",
    "NEVER",
    "RATE",
    "FlushReport",
    "Watch",
    "dirty_snapshots",
    "earn",
    "flush_dirty",
    "record_heartbeat",
    "sync_events",
]

# After a Redis error, heartbeats write through to PostgreSQL for a moment instead of
# each waiting on Redis's socket timeout (`ctx.progress_breaker`).


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- heartbeats ------------------------------------------------------------------------
@dataclass(frozen=True)
class Heard:
    """One heartbeat as the server takes it: whose, which lesson, what the player claims,
    the duration the claim is held to, and the server's own time."""

    user_id: str
    lesson_id: str
    course_id: str
    position: float  # already held to the duration
    claimed: float
    duration: float
    completable: bool
    now_ms: int
    client_ms: int | None

    def result(self, *, completed: bool, course_progress: float, watched: float) -> HeartbeatResult:
        return HeartbeatResult(
            lesson_id=self.lesson_id,
            course_id=self.course_id,
            completed=completed,
            course_progress=course_progress,
            watched_seconds=watched,
        )


async def record_heartbeat(
    ctx: AppContext,
    principal: Principal,
    lesson_id: str,
    beat: Heartbeat,
    *,
    found: tuple[dict[str, Any], CourseAccess] | None = None,
) -> tuple[int, HeartbeatResult]:
    """202 when buffered in Redis, 200 when written to PostgreSQL (a completion, or Redis down).

    `found` is the lesson and the caller's enrolment the endpoint's relation already read
    (from the content cache); without it the enrolment is checked here."""
    lesson, course_id = (found[0], found[1].course_id) if found else await enrolled_lesson(ctx, principal, lesson_id)
    refusal = not_watched(lesson)
    if refusal is not None:
        raise Invalid(refusal, title="Not a video lesson")
    duration, completable = held_duration(lesson, beat.duration_seconds)
    heard = Heard(
        user_id=principal.user_id,
        lesson_id=lesson_id,
        course_id=course_id,
        position=min(beat.position_seconds, duration),
        claimed=beat.watched_seconds,
        duration=duration,
        completable=completable,
        now_ms=_now_ms(),
        client_ms=millis(beat.client_time) if beat.client_time else None,
    )
    if ctx.progress_breaker.closed:
        try:
            return await _record_in_redis(ctx, heard)
        except RedisError as exc:
            ctx.progress_breaker.trip("heartbeat", exc)
    return await _record_in_postgres(ctx, heard)


async def _record_in_redis(ctx: AppContext, heard: Heard) -> tuple[int, HeartbeatResult]:
    store = ctx.progress_store
    args: dict[str, Any] = dict(
        user_id=heard.user_id,
        lesson_id=heard.lesson_id,
        course_id=heard.course_id,
        now_ms=heard.now_ms,
        position=heard.position,
        watched=heard.claimed,
        duration=heard.duration,
        client_ms=heard.client_ms,
        rate=RATE,
        allowance=ALLOWANCE_SECONDS,
        gap_limit=GAP_LIMIT_SECONDS,
        threshold=ctx.settings.completion_threshold,
        completable=heard.completable,
    )
    per_minute = ctx.settings.rate_limit_heartbeats_per_minute
    limit = progress_redis.Rate(emission_interval_ms(per_minute, 60_000), per_minute)
    recorded = await store.record(**args, limit=limit)
    if recorded is None:
        # No snapshot in Redis (first heartbeat, or it expired): start from the database row.
        recorded = await store.record(**args, limit=limit, baseline=await _baseline(ctx, heard.user_id, heard.lesson_id))
        assert recorded is not None
    if isinstance(recorded, progress_redis.Refused):
        wait = Decision(allowed=False, remaining=0, retry_after_ms=recorded.retry_after_ms)
        raise RateLimited("Too many requests; slow down.", retry_after=wait.retry_after_seconds)
    if recorded.crossed:
        try:
            completed_progress = await completion.complete(
                ctx, _write(heard, watched=recorded.watched_seconds, completed=True), heard.course_id
            )
        except BaseException:
            # Not acknowledged, so not completed: let the next heartbeat cross again.
            try:
                await store.reopen(heard.user_id, heard.lesson_id)
            except RedisError:
                pass
            raise
        return 200, heard.result(completed=True, course_progress=completed_progress, watched=recorded.watched_seconds)
    course_progress = recorded.course_progress
    if course_progress is None:
        course_progress = await cached_course_progress(ctx, heard.user_id, heard.course_id)
    return 202, heard.result(completed=recorded.completed, course_progress=course_progress, watched=recorded.watched_seconds)


def _write(heard: Heard, *, watched: float, completed: bool, credit: float = 0.0) -> ProgressWrite:
    """The row a heartbeat writes through to PostgreSQL."""
    return ProgressWrite(
        user_id=heard.user_id,
        lesson_id=heard.lesson_id,
        position_seconds=heard.position,
        watched_seconds=watched,
        duration_seconds=heard.duration,
        completed=completed,
        heard_at_ms=heard.now_ms,
        client_ms=heard.client_ms,
        credit_seconds=credit,
    )


async def _baseline(ctx: AppContext, user_id: str, lesson_id: str) -> progress_redis.Baseline:
    async with ctx.db.connection() as conn:
        row = await progress_sql.get_progress(conn, user_id, lesson_id)
    state = stored_watch(row)
    return progress_redis.Baseline(
        watched_seconds=state.watched,
        heard_at_ms=state.heard_ms or 0,
        completed=bool(row and row["completed"]),
        credit_seconds=state.credit,
    )


async def _record_in_postgres(ctx: AppContext, heard: Heard) -> tuple[int, HeartbeatResult]:
    """Redis is down: the same rule against the row's last heartbeat and credit, written at once."""
    async with ctx.db.transaction() as conn:
        row = (await progress_sql.lock_progress(conn, heard.user_id, [heard.lesson_id])).get(heard.lesson_id)
        after = earn(stored_watch(row), heard.now_ms, heard.claimed, heard.duration)
        done = bool(row and row["completed"]) or (
            heard.completable and is_complete(after.watched, heard.duration, ctx.settings.completion_threshold)
        )
        written = await progress_sql.upsert_many(
            conn, [_write(heard, watched=after.watched, completed=done, credit=after.credit)], return_all=True
        )
        if not written:
            raise NotFound("No such lesson.")
        completed, total = await progress_sql.course_progress(conn, heard.user_id, heard.course_id)
    value = course_fraction(completed, total)
    if written[0]["newly_completed"]:
        await completion.after_completion(ctx, written[0], value)
    return 200, heard.result(
        completed=bool(written[0]["completed"]), course_progress=value, watched=float(written[0]["watched_seconds"])
    )

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
- **Heartbeats are metered per student** (`LECTERN_RATE_HEARTBEATS_PER_MINUTE`, a burst
  of as many): a player beats every few seconds, a script that hammers the endpoint gets
  429 with `Retry-After`.
- **Completion is never lost.** Crossing the threshold writes the completion to
  PostgreSQL before the answer (200); only then does the student hear about it. Every
  write merges with GREATEST semantics, so retries, duplicates and out-of-order writes
  (flush, sync, write-through) are harmless and in any order reach the same row.
- **Redis down is slower, not broken.** A heartbeat then writes through to PostgreSQL
  with the same rule, against the row's last heartbeat time and stored credit.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from pydantic import ValidationError
from redis.exceptions import RedisError

from shared_code.adapters.postgres import progress as progress_sql
from shared_code.adapters.postgres.progress import ProgressColumns, ProgressWrite
from shared_code.adapters.redis import progress as progress_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import Forbidden, LecternError, NotFound
from shared_code.models.progress import (
    Heartbeat,
    HeartbeatResult,
    LessonProgress,
    Refusal,
    SyncBatch,
    SyncEvent,
    SyncResult,
)
from shared_code.platform import outbox
from shared_code.platform import access as access_service
from shared_code.services.progress import changelog, dashboard

logger = logging.getLogger("lectern.progress")

RATE = 1.5
ALLOWANCE_SECONDS = 5.0
GAP_LIMIT_SECONDS = 300.0
FUTURE_TOLERANCE = timedelta(minutes=5)
FLUSH_TIME_BUDGET_SECONDS = 4.0  # below the 5 s timer period, so flushes do not pile up
FLUSH_PARALLEL_SHARDS = 4

# After a Redis error, heartbeats write through to PostgreSQL for a moment instead of
# each waiting on Redis's socket timeout (`ctx.progress_breaker`).


# --- the rules (pure) ------------------------------------------------------------------
@dataclass(frozen=True)
class Watch:
    """One student's standing on one lesson, as far as the watch rule needs it."""

    watched: float
    heard_ms: int | None  # server time of the last heartbeat or applied event; None: never
    credit: float = 0.0  # seconds paid for by the clock and not yet claimed (≤ the allowance)


NEVER = Watch(watched=0.0, heard_ms=None, credit=0.0)


def earn(state: Watch, at_ms: int, claimed: float, duration: float) -> Watch:
    """The standing after a claim of `claimed` watched seconds heard at server time `at_ms`.

    A new session (nothing heard before, or silence longer than the gap limit) starts with
    the allowance; otherwise the credit carried (at most the allowance) grows by the time
    since the last observation × `RATE`. The claim is taken up to the credit and the
    duration, never lowering what is recorded; what is left is carried, capped again.
    """
    gap_ms = None if state.heard_ms is None or state.heard_ms <= 0 else at_ms - state.heard_ms
    if gap_ms is None or gap_ms / 1000 > GAP_LIMIT_SECONDS:
        credit = ALLOWANCE_SECONDS
    else:
        credit = min(max(state.credit, 0.0), ALLOWANCE_SECONDS) + max(0, gap_ms / 1000) * RATE
    target = min(claimed, duration)
    watched = state.watched
    if target > watched:
        watched = target if target - watched <= credit else watched + credit
    left = min(ALLOWANCE_SECONDS, credit - (watched - state.watched))
    heard = at_ms if state.heard_ms is None else max(state.heard_ms, at_ms)
    return Watch(watched=watched, heard_ms=heard, credit=left)


def is_complete(watched: float, duration: float, threshold: float) -> bool:
    return duration > 0 and watched >= threshold * duration


def course_fraction(completed: int, total: int) -> float:
    return round(min(completed, total) / total, 4) if total > 0 else 0.0


@dataclass(frozen=True)
class Folded:
    watched: float
    position: float | None  # None: no event was newer than what was known
    latest_ms: int | None
    credit: float = 0.0


def fold_events(start: Watch, events: Iterable[tuple[int, float, float]], duration: float) -> Folded:
    """Applies offline events `(server-clamped ms, watched, position)` to `start` through `earn`.

    Events are taken in time order whatever order they came in; an event no newer than the
    last observation teaches nothing (so duplicates and replays change nothing).
    """
    state = start
    position: float | None = None
    # Ties on time: the largest claim first, so which duplicate wins never depends on the
    # order they were sent in.
    for at_ms, claimed, pos in sorted(events, key=lambda e: (e[0], -e[1], -e[2])):
        if state.heard_ms is not None and at_ms <= state.heard_ms:
            continue
        state = earn(state, at_ms, claimed, duration)
        position = min(pos, duration)
    return Folded(watched=state.watched, position=position, latest_ms=state.heard_ms, credit=state.credit)


def merge_offline(stored: Watch, events: list[tuple[int, float, float]], duration: float) -> Folded:
    """What an offline batch adds to a stored lesson: the better of two readings.

    Continued: the batch applied after what is stored (only events newer than the last
    observation count, with the stored credit). Alone: the batch on its own, from nothing;
    this is what lets a batch from before the latest online heartbeat (another device, a
    queue that waited) still count, but only instead of what is stored, never added to it.
    Both readings are the same every time the same batch arrives, so replays add nothing.
    """
    continued = fold_events(stored, events, duration)
    alone = fold_events(NEVER, events, duration)
    return Folded(
        watched=max(continued.watched, alone.watched),
        position=continued.position,
        latest_ms=continued.latest_ms,
        credit=continued.credit,
    )


def clamp_event_ms(client_ms: int, now_ms: int) -> int:
    """A client's event time as the server will count it: never later than now."""
    return min(client_ms, now_ms)


def millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- heartbeats ------------------------------------------------------------------------
async def _enrolled_lesson(ctx: AppContext, principal: Principal, lesson_id: str) -> tuple[dict[str, Any], str]:
    """The lesson and its course id, when the caller is a student enrolled in that course."""
    lesson, access = await access_service.lesson_access(ctx, principal, lesson_id)
    if access.relation != "enrolled" or not principal.has_role("student"):
        raise Forbidden("Only students enrolled in this course record progress.")
    return lesson, access.course_id


def _duration(lesson: dict[str, Any], claimed: float) -> tuple[float, bool]:
    """The duration to hold claims to, and whether the lesson can complete at all.

    The lesson's own duration when it has one: a client cannot shorten a video to finish
    it. Without one, the client's figure only caps what is recorded; a video then cannot
    complete (its length is the server's to know: from the tutor or the video asset).
    Other kinds keep taking the client's figure.
    """
    known = lesson.get("duration_seconds")
    if known:
        return float(known), True
    return float(claimed), lesson.get("kind") != "video"


async def record_heartbeat(
    ctx: AppContext, principal: Principal, lesson_id: str, beat: Heartbeat
) -> tuple[int, HeartbeatResult]:
    """202 when buffered in Redis, 200 when written to PostgreSQL (a completion, or Redis down)."""
    lesson, course_id = await _enrolled_lesson(ctx, principal, lesson_id)
    duration, completable = _duration(lesson, beat.duration_seconds)
    now_ms = _now_ms()
    client_ms = millis(beat.client_time) if beat.client_time else None
    if ctx.progress_breaker.closed:
        try:
            return await _record_in_redis(
                ctx, principal, lesson_id, course_id, beat, duration, completable, now_ms, client_ms
            )
        except RedisError as exc:
            ctx.progress_breaker.trip("heartbeat", exc)
    return await _record_in_postgres(ctx, principal, lesson_id, course_id, beat, duration, completable, now_ms, client_ms)


async def _record_in_redis(
    ctx: AppContext,
    principal: Principal,
    lesson_id: str,
    course_id: str,
    beat: Heartbeat,
    duration: float,
    completable: bool,
    now_ms: int,
    client_ms: int | None,
) -> tuple[int, HeartbeatResult]:
    store = ctx.progress_store
    user_id = principal.user_id
    position = min(beat.position_seconds, duration)
    args: dict[str, Any] = dict(
        user_id=user_id,
        lesson_id=lesson_id,
        course_id=course_id,
        now_ms=now_ms,
        position=position,
        watched=beat.watched_seconds,
        duration=duration,
        client_ms=client_ms,
        rate=RATE,
        allowance=ALLOWANCE_SECONDS,
        gap_limit=GAP_LIMIT_SECONDS,
        threshold=ctx.settings.completion_threshold,
        completable=completable,
    )
    recorded = await store.record(**args)
    if recorded is None:
        # No snapshot in Redis (first heartbeat, or it expired): start from the database row.
        recorded = await store.record(**args, baseline=await _baseline(ctx, user_id, lesson_id))
        assert recorded is not None
    if recorded.crossed:
        try:
            completed_progress = await _complete(
                ctx,
                ProgressWrite(
                    user_id=user_id,
                    lesson_id=lesson_id,
                    position_seconds=position,
                    watched_seconds=recorded.watched_seconds,
                    duration_seconds=duration,
                    completed=True,
                    heard_at_ms=now_ms,
                    client_ms=client_ms,
                ),
                course_id,
            )
        except BaseException:
            # Not acknowledged, so not completed: let the next heartbeat cross again.
            try:
                await store.reopen(user_id, lesson_id)
            except RedisError:
                pass
            raise
        return 200, HeartbeatResult(
            lesson_id=lesson_id,
            course_id=course_id,
            completed=True,
            course_progress=completed_progress,
            watched_seconds=recorded.watched_seconds,
        )
    course_progress = recorded.course_progress
    if course_progress is None:
        course_progress = await _cached_course_progress(ctx, user_id, course_id)
    return 202, HeartbeatResult(
        lesson_id=lesson_id,
        course_id=course_id,
        completed=recorded.completed,
        course_progress=course_progress,
        watched_seconds=recorded.watched_seconds,
    )


async def _baseline(ctx: AppContext, user_id: str, lesson_id: str) -> progress_redis.Baseline:
    async with ctx.db.connection() as conn:
        row = await progress_sql.get_progress(conn, user_id, lesson_id)
    state = _stored_watch(row)
    return progress_redis.Baseline(
        watched_seconds=state.watched,
        heard_at_ms=state.heard_ms or 0,
        completed=bool(row and row["completed"]),
        credit_seconds=state.credit,
    )


def _stored_watch(row: dict[str, Any] | None) -> Watch:
    """The rule's state as PostgreSQL holds it (a row without a credit has none left)."""
    if row is None:
        return NEVER
    return Watch(
        watched=float(row["watched_seconds"]),
        heard_ms=millis(row["updated_at"]),
        credit=float(row["watch_credit_seconds"] or 0.0),
    )


async def _cached_course_progress(ctx: AppContext, user_id: str, course_id: str) -> float:
    async with ctx.db.connection() as conn:
        completed, total = await progress_sql.course_progress(conn, user_id, course_id)
    value = course_fraction(completed, total)
    await _remember_course_progress(ctx, user_id, course_id, value)
    return value


async def _remember_course_progress(ctx: AppContext, user_id: str, course_id: str, value: float) -> None:
    if not ctx.progress_breaker.closed:
        return
    try:
        await ctx.progress_store.set_course_progress(user_id, course_id, value)
    except RedisError as exc:
        ctx.progress_breaker.trip("course progress", exc)


async def _complete(ctx: AppContext, write: ProgressWrite, course_id: str) -> float:
    """Writes a completion through to PostgreSQL; the course progress after it."""
    async with ctx.db.transaction() as conn:
        rows = await progress_sql.upsert_many(conn, [write], return_all=True)
        if not rows:
            raise NotFound("No such lesson.")
        completed, total = await progress_sql.course_progress(conn, write.user_id, course_id)
    value = course_fraction(completed, total)
    if rows[0]["newly_completed"]:
        await after_completion(ctx, rows[0], value)
    await _remember_course_progress(ctx, write.user_id, course_id, value)
    return value


async def _record_in_postgres(
    ctx: AppContext,
    principal: Principal,
    lesson_id: str,
    course_id: str,
    beat: Heartbeat,
    duration: float,
    completable: bool,
    now_ms: int,
    client_ms: int | None,
) -> tuple[int, HeartbeatResult]:
    """Redis is down: the same rule against the row's last heartbeat and credit, written at once."""
    user_id = principal.user_id
    async with ctx.db.transaction() as conn:
        row = (await progress_sql.lock_progress(conn, user_id, [lesson_id])).get(lesson_id)
        after = earn(_stored_watch(row), now_ms, beat.watched_seconds, duration)
        done = bool(row and row["completed"]) or (
            completable and is_complete(after.watched, duration, ctx.settings.completion_threshold)
        )
        written = await progress_sql.upsert_many(
            conn,
            [
                ProgressWrite(
                    user_id=user_id,
                    lesson_id=lesson_id,
                    position_seconds=min(beat.position_seconds, duration),
                    watched_seconds=after.watched,
                    duration_seconds=duration,
                    completed=done,
                    heard_at_ms=now_ms,
                    client_ms=client_ms,
                    credit_seconds=after.credit,
                )
            ],
            return_all=True,
        )
        if not written:
            raise NotFound("No such lesson.")
        completed, total = await progress_sql.course_progress(conn, user_id, course_id)
    value = course_fraction(completed, total)
    if written[0]["newly_completed"]:
        await after_completion(ctx, written[0], value)
    return 200, HeartbeatResult(
        lesson_id=lesson_id,
        course_id=course_id,
        completed=bool(written[0]["completed"]),
        course_progress=value,
        watched_seconds=float(written[0]["watched_seconds"]),
    )


async def after_completion(ctx: AppContext, row: dict[str, Any], course_progress: float) -> None:
    """What follows a committed completion: the change log, the push, the dashboard.

    Each effect runs now or is queued for retry by the outbox; a failure of both is logged
    and does not undo the completion, which is already safe in PostgreSQL.
    """
    user_id, lesson_id, course_id = str(row["user_id"]), str(row["lesson_id"]), str(row["course_id"])
    at: datetime = row["completed_at"]
    message = {
        "type": "progress.updated",
        "lessonId": lesson_id,
        "courseId": course_id,
        "completed": True,
        "courseProgress": course_progress,
        "at": at.astimezone(timezone.utc).isoformat(),
    }
    results = await asyncio.gather(
        changelog.record(
            ctx,
            user_id,
            "progress.completed",
            at=at,
            course_id=course_id,
            subject_id=lesson_id,
            details={"watchedSeconds": float(row["watched_seconds"]), "courseProgress": course_progress},
        ),
        outbox.perform(ctx, "pubsub.user", {"userId": user_id, "message": message}),
        dashboard.invalidate_dashboard(ctx, user_id),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            logger.error("a completion effect could neither run nor be queued: %s", result)
    logger.info("lesson completed", extra={"userId": user_id, "lessonId": lesson_id, "courseId": course_id})


# --- offline sync ----------------------------------------------------------------------
def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"invalid {where}: {first.get('msg', 'not valid')}" if where else f"invalid: {first.get('msg', 'not valid')}"


def _raw_lesson_id(raw: Any) -> str | None:
    value = raw.get("lessonId") if isinstance(raw, dict) else None
    return str(value)[:64] if value is not None else None


async def sync_events(ctx: AppContext, principal: Principal, batch: SyncBatch) -> SyncResult:
    """Applies an offline queue: each event on its own merits, the whole batch in one transaction."""
    user_id = principal.user_id
    now = datetime.now(timezone.utc)
    refused: list[Refusal] = []
    events: list[tuple[int, SyncEvent]] = []
    for index, raw in enumerate(batch.events):
        try:
            event = SyncEvent.model_validate(raw)
        except ValidationError as exc:
            refused.append(Refusal(index=index, lesson_id=_raw_lesson_id(raw), reason=_reason(exc)))
            continue
        if event.client_time > now + FUTURE_TOLERANCE:
            refused.append(Refusal(index=index, lesson_id=str(event.lesson_id), reason="clientTime is in the future"))
            continue
        events.append((index, event))

    lessons: dict[str, tuple[dict[str, Any], str]] = {}
    unusable: dict[str, str] = {}
    for lesson_id in dict.fromkeys(str(e.lesson_id) for _, e in events):
        try:
            lessons[lesson_id] = await _enrolled_lesson(ctx, principal, lesson_id)
        except NotFound:
            unusable[lesson_id] = "no such lesson"
        except Forbidden:
            unusable[lesson_id] = "not enrolled in this lesson's course"
    groups: dict[str, list[tuple[int, SyncEvent]]] = {}
    for index, event in events:
        lesson_id = str(event.lesson_id)
        if lesson_id in unusable:
            refused.append(Refusal(index=index, lesson_id=lesson_id, reason=unusable[lesson_id]))
        else:
            groups.setdefault(lesson_id, []).append((index, event))
    if not groups:
        refused.sort(key=lambda r: r.index)
        return SyncResult(accepted=[], refused=refused, lessons=[])

    now_ms = millis(now)
    threshold = ctx.settings.completion_threshold
    accepted: list[int] = []
    async with ctx.db.transaction() as conn:
        current = await progress_sql.lock_progress(conn, user_id, list(groups))
        since = await progress_sql.enrolled_since(conn, user_id, list({lessons[lid][1] for lid in groups}))
        writes: list[ProgressWrite] = []
        for lesson_id, group in groups.items():
            lesson, course_id = lessons[lesson_id]
            enrolled_at = since.get(course_id)
            kept: list[SyncEvent] = []
            for index, event in group:
                if enrolled_at is None:
                    refused.append(Refusal(index=index, lesson_id=lesson_id, reason="not enrolled in this lesson's course"))
                elif event.client_time < enrolled_at:
                    refused.append(Refusal(index=index, lesson_id=lesson_id, reason="clientTime is before the enrolment"))
                else:
                    accepted.append(index)
                    kept.append(event)
            if not kept:
                continue
            latest_event = max(kept, key=lambda e: e.client_time)
            duration, completable = _duration(lesson, latest_event.duration_seconds)
            row = current.get(lesson_id)
            stored = _stored_watch(row)
            timed = [(clamp_event_ms(millis(e.client_time), now_ms), e.watched_seconds, e.position_seconds) for e in kept]
            merged = merge_offline(stored, timed, duration)
            if row is not None and merged.position is None and merged.watched <= stored.watched:
                continue  # nothing the database does not already know: a replay
            position = merged.position if merged.position is not None else float(row["position_seconds"])
            writes.append(
                ProgressWrite(
                    user_id=user_id,
                    lesson_id=lesson_id,
                    position_seconds=position,
                    watched_seconds=merged.watched,
                    duration_seconds=duration,
                    completed=bool(row and row["completed"])
                    or (completable and is_complete(merged.watched, duration, threshold)),
                    # The event's time, not the sync's: the next batch continues from it.
                    heard_at_ms=merged.latest_ms if merged.latest_ms is not None else now_ms,
                    client_ms=max(t for t, _, _ in timed),
                    credit_seconds=merged.credit,
                )
            )
        written = {str(r["lesson_id"]): r for r in await progress_sql.upsert_many(conn, writes, return_all=True)}
        course_ids = {lessons[lid][1] for lid in groups}
        fractions = {}
        for course_id in course_ids:
            completed, total = await progress_sql.course_progress(conn, user_id, course_id)
            fractions[course_id] = course_fraction(completed, total)
    accepted.sort()
    refused.sort(key=lambda r: r.index)

    out: list[LessonProgress] = []
    for lesson_id in groups:
        course_id = lessons[lesson_id][1]
        row = written.get(lesson_id) or current.get(lesson_id)
        if row is None:
            continue
        out.append(
            LessonProgress(
                lesson_id=lesson_id,
                course_id=course_id,
                watched_seconds=float(row["watched_seconds"]),
                position_seconds=float(row["position_seconds"]),
                completed=bool(row["completed"]),
                course_progress=fractions[course_id],
            )
        )
    for row in written.values():
        if row["newly_completed"]:
            await after_completion(ctx, row, fractions[str(row["course_id"])])
    await _merge_into_redis(ctx, user_id, written.values(), fractions)
    return SyncResult(accepted=accepted, refused=refused, lessons=out)


async def _merge_into_redis(
    ctx: AppContext, user_id: str, rows: Iterable[dict[str, Any]], fractions: dict[str, float]
) -> None:
    """Raises live snapshots to what PostgreSQL now holds, so the next heartbeat builds on it."""
    if not ctx.progress_breaker.closed:
        return
    store = ctx.progress_store
    try:
        for row in rows:
            await store.merge(
                progress_redis.Snapshot(
                    user_id=user_id,
                    lesson_id=str(row["lesson_id"]),
                    course_id=str(row["course_id"]),
                    watched_seconds=float(row["watched_seconds"]),
                    position_seconds=float(row["position_seconds"]),
                    duration_seconds=float(row["duration_seconds"]),
                    heard_at_ms=millis(row["updated_at"]),
                    client_ms=millis(row["client_time"]) if row["client_time"] else None,
                    completed=bool(row["completed"]),
                    credit_seconds=float(row["watch_credit_seconds"] or 0.0),
                )
            )
        for course_id, value in fractions.items():
            await store.set_course_progress(user_id, course_id, value)
    except RedisError as exc:
        # PostgreSQL has it all; a stale snapshot only flushes lower values, which GREATEST ignores.
        ctx.progress_breaker.trip("sync merge", exc)


# --- the flush -------------------------------------------------------------------------
@dataclass
class FlushReport:
    snapshots: int = 0
    batches: int = 0
    completions: int = 0
    shards_busy: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


async def flush_dirty(
    ctx: AppContext,
    *,
    batch_size: int | None = None,
    time_budget: float = FLUSH_TIME_BUDGET_SECONDS,
    parallel: int = FLUSH_PARALLEL_SHARDS,
) -> FlushReport:
    """Writes dirty snapshots to PostgreSQL, one statement per batch, shards in parallel.

    Stops taking new batches after `time_budget` seconds; what is left waits for the next
    run. Raises after every shard had its turn when any batch failed (its members are
    back in the dirty set by then).
    """
    started = time.perf_counter()
    report = FlushReport()
    store = ctx.progress_store
    size = batch_size or ctx.settings.flush_batch_size
    deadline = started + time_budget
    gate = asyncio.Semaphore(parallel)

    async def run(shard: int) -> None:
        async with gate:
            await _flush_shard(ctx, store, shard, size, deadline, report)

    results = await asyncio.gather(*(run(s) for s in range(progress_redis.SHARDS)), return_exceptions=True)
    report.seconds = time.perf_counter() - started
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        report.errors = [f"{type(f).__name__}: {f}" for f in failures]
        raise failures[0]
    if report.snapshots:
        logger.info(
            "flushed progress",
            extra={"snapshots": report.snapshots, "batches": report.batches, "seconds": round(report.seconds, 3)},
        )
    else:
        logger.debug("no dirty progress to flush")
    return report


async def _flush_shard(
    ctx: AppContext, store: progress_redis.ProgressStore, shard: int, size: int, deadline: float, report: FlushReport
) -> None:
    token = secrets.token_hex(8)
    if not await store.lock_shard(shard, token):
        report.shards_busy += 1  # another flusher has this shard right now
        return
    try:
        while time.perf_counter() < deadline:
            members = await store.take(shard, size)
            if not members:
                return
            try:
                snapshots = await store.read(members)
                rows = ProgressColumns(
                    users=snapshots.users,
                    lessons=snapshots.lessons,
                    positions=snapshots.positions,
                    watched=snapshots.watched,
                    durations=snapshots.durations,
                    completed=snapshots.completed,
                    client_ms=snapshots.client_ms,
                    heard_ms=snapshots.heard_ms,
                    credits=snapshots.credits,
                )
                async with ctx.db.transaction() as conn:
                    completed_now = await progress_sql.upsert_columns(conn, rows)
            except BaseException:
                try:
                    await store.give_back(shard)
                except RedisError:
                    pass  # still in the flushing set: the next take puts them back
                raise
            await store.done(shard)
            report.snapshots += len(rows)
            report.batches += 1
            # Normally empty: completions are written when they happen. A snapshot whose
            # completion never reached PostgreSQL (a double failure) gets its effects here.
            for row in completed_now:
                report.completions += 1
                await _late_completion(ctx, row)
            if len(members) < size:
                return
    finally:
        try:
            await store.unlock_shard(shard, token)
        except RedisError:
            pass


async def _late_completion(ctx: AppContext, row: dict[str, Any]) -> None:
    try:
        value = await _cached_course_progress(ctx, str(row["user_id"]), str(row["course_id"]))
        await after_completion(ctx, row, value)
    except LecternError as exc:
        logger.warning("late completion effects failed: %s", exc)


async def dirty_snapshots(ctx: AppContext) -> int:
    """How many snapshots wait for the flush (for health and benchmarks)."""
    return await ctx.progress_store.dirty_count()

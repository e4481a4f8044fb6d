"""Video progress: heartbeats (write-behind through Redis), completion (written through at
once), offline sync, and the flush that lands snapshots in PostgreSQL.

Why it is shaped this way:

- **The heartbeat is the hot path.** The access check comes from the content cache (one
  Redis round trip when warm) and the snapshot is recorded by one script call, so a
  heartbeat answers 202 without touching PostgreSQL. A timer flushes dirty snapshots in
  batches; losing Redis loses at most one flush interval of such progress.
- **Watched time is earned, not claimed.** It may grow by at most the wall-clock time
  since the previous heartbeat × `RATE` plus `ALLOWANCE_SECONDS` (so seeking ahead is not
  watching), never beyond the duration, and never moves backwards. A gap longer than
  `GAP_LIMIT_SECONDS` is a pause, not viewing time.
- **Completion is never lost.** Crossing the threshold writes the completion to
  PostgreSQL before the answer (200); only then does the student hear about it. Every
  write merges with GREATEST semantics, so retries, duplicates and out-of-order writes
  (flush, sync, write-through) are harmless and in any order reach the same row.
- **Redis down is slower, not broken.** A heartbeat then writes through to PostgreSQL
  with the same capping, against the row's last heartbeat time.
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
from shared_code.services import access as access_service
from shared_code.services import changelog, dashboard, outbox
from shared_code.services.content_cache import Breaker

logger = logging.getLogger("lectern.progress")

RATE = 1.5
ALLOWANCE_SECONDS = 5.0
GAP_LIMIT_SECONDS = 300.0
FUTURE_TOLERANCE = timedelta(minutes=5)
FLUSH_TIME_BUDGET_SECONDS = 4.0  # below the 5 s timer period, so flushes do not pile up
FLUSH_PARALLEL_SHARDS = 4

# After a Redis error, heartbeats write through to PostgreSQL for a moment instead of
# each waiting on Redis's socket timeout.
_breaker = Breaker(2.0)


# --- the rules (pure) ------------------------------------------------------------------
def cap_watched(previous: float, elapsed_seconds: float, claimed: float, duration: float) -> float:
    """The watched time to record: earned by wall-clock time, within the duration, never lower."""
    earned = min(max(0.0, elapsed_seconds), GAP_LIMIT_SECONDS) * RATE + ALLOWANCE_SECONDS
    return max(previous, min(claimed, duration, previous + earned))


def is_complete(watched: float, duration: float, threshold: float) -> bool:
    return duration > 0 and watched >= threshold * duration


def course_fraction(completed: int, total: int) -> float:
    return round(min(completed, total) / total, 4) if total > 0 else 0.0


@dataclass(frozen=True)
class Folded:
    watched: float
    position: float | None  # None: no event was newer than what was known
    latest_ms: int | None


def fold_events(
    watched: float, known_ms: int | None, events: Iterable[tuple[int, float, float]], duration: float
) -> Folded:
    """Applies offline events `(client ms, watched, position)` to what is known.

    Events are taken in client-time order whatever order they came in; an event no newer
    than what is already known teaches nothing (so duplicates and replays change nothing);
    each newer one may add at most what the client time since the previous one earns.
    """
    position: float | None = None
    latest = known_ms
    # Ties on client time: the largest claim first, so which duplicate wins never depends
    # on the order they were sent in.
    for at_ms, claimed, pos in sorted(events, key=lambda e: (e[0], -e[1], -e[2])):
        if latest is None:
            elapsed = 0.0
        elif at_ms > latest:
            elapsed = (at_ms - latest) / 1000
        else:
            continue
        watched = cap_watched(watched, elapsed, claimed, duration)
        position = min(pos, duration)
        latest = at_ms
    return Folded(watched=watched, position=position, latest_ms=latest)


def merge_offline(
    stored: float, known_ms: int | None, events: list[tuple[int, float, float]], duration: float
) -> Folded:
    """What an offline batch adds to a stored lesson: the better of two readings.

    Continued: the batch applied after what is stored (only events newer than the stored
    client time count). Alone: the batch on its own, from nothing, capped by its own client
    times; this is what lets a batch from before the latest online heartbeat (another
    device, a queue that waited) still count. Both readings are the same every time the
    same batch arrives, so replays add nothing.
    """
    continued = fold_events(stored, known_ms, events, duration)
    alone = fold_events(0.0, None, events, duration)
    times = [t for t in (known_ms, *(e[0] for e in events)) if t is not None]
    return Folded(watched=max(continued.watched, alone.watched), position=continued.position, latest_ms=max(times) if times else None)


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


def _duration(lesson: dict[str, Any], claimed: float) -> float:
    """The lesson's own duration when it has one: a client cannot shorten a video to finish it."""
    known = lesson.get("duration_seconds")
    return float(known) if known else float(claimed)


async def record_heartbeat(
    ctx: AppContext, principal: Principal, lesson_id: str, beat: Heartbeat
) -> tuple[int, HeartbeatResult]:
    """202 when buffered in Redis, 200 when written to PostgreSQL (a completion, or Redis down)."""
    lesson, course_id = await _enrolled_lesson(ctx, principal, lesson_id)
    duration = _duration(lesson, beat.duration_seconds)
    now_ms = _now_ms()
    client_ms = millis(beat.client_time) if beat.client_time else None
    if _breaker.closed:
        try:
            return await _record_in_redis(ctx, principal, lesson_id, course_id, beat, duration, now_ms, client_ms)
        except RedisError as exc:
            _breaker.trip("heartbeat", exc)
    return await _record_in_postgres(ctx, principal, lesson_id, course_id, beat, duration, now_ms, client_ms)


async def _record_in_redis(
    ctx: AppContext,
    principal: Principal,
    lesson_id: str,
    course_id: str,
    beat: Heartbeat,
    duration: float,
    now_ms: int,
    client_ms: int | None,
) -> tuple[int, HeartbeatResult]:
    store = progress_redis.store_for(ctx.redis)
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
    )
    recorded = await store.record(**args)
    if recorded is None:
        # No snapshot in Redis (first heartbeat, or it expired): start from the database row.
        recorded = await store.record(**args, baseline=await _baseline(ctx, user_id, lesson_id, now_ms))
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


async def _baseline(ctx: AppContext, user_id: str, lesson_id: str, now_ms: int) -> progress_redis.Baseline:
    async with ctx.db.connection() as conn:
        row = await progress_sql.get_progress(conn, user_id, lesson_id)
    if row is None:
        return progress_redis.Baseline(watched_seconds=0.0, heard_at_ms=now_ms, completed=False)
    return progress_redis.Baseline(
        watched_seconds=float(row["watched_seconds"]),
        heard_at_ms=millis(row["updated_at"]),
        completed=bool(row["completed"]),
    )


async def _cached_course_progress(ctx: AppContext, user_id: str, course_id: str) -> float:
    async with ctx.db.connection() as conn:
        completed, total = await progress_sql.course_progress(conn, user_id, course_id)
    value = course_fraction(completed, total)
    await _remember_course_progress(ctx, user_id, course_id, value)
    return value


async def _remember_course_progress(ctx: AppContext, user_id: str, course_id: str, value: float) -> None:
    if not _breaker.closed:
        return
    try:
        await progress_redis.store_for(ctx.redis).set_course_progress(user_id, course_id, value)
    except RedisError as exc:
        _breaker.trip("course progress", exc)


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
    now_ms: int,
    client_ms: int | None,
) -> tuple[int, HeartbeatResult]:
    """Redis is down: the same rules against the row's last heartbeat time, written at once."""
    user_id = principal.user_id
    async with ctx.db.transaction() as conn:
        row = (await progress_sql.lock_progress(conn, user_id, [lesson_id])).get(lesson_id)
        previous = float(row["watched_seconds"]) if row else 0.0
        heard_ms = millis(row["updated_at"]) if row else now_ms
        watched = cap_watched(previous, (now_ms - heard_ms) / 1000, beat.watched_seconds, duration)
        done = bool(row and row["completed"]) or is_complete(watched, duration, ctx.settings.completion_threshold)
        written = await progress_sql.upsert_many(
            conn,
            [
                ProgressWrite(
                    user_id=user_id,
                    lesson_id=lesson_id,
                    position_seconds=min(beat.position_seconds, duration),
                    watched_seconds=watched,
                    duration_seconds=duration,
                    completed=done,
                    heard_at_ms=now_ms,
                    client_ms=client_ms,
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
    accepted: list[int] = []
    groups: dict[str, list[SyncEvent]] = {}
    for index, event in events:
        lesson_id = str(event.lesson_id)
        if lesson_id in unusable:
            refused.append(Refusal(index=index, lesson_id=lesson_id, reason=unusable[lesson_id]))
        else:
            accepted.append(index)
            groups.setdefault(lesson_id, []).append(event)
    refused.sort(key=lambda r: r.index)
    if not groups:
        return SyncResult(accepted=accepted, refused=refused, lessons=[])

    now_ms = millis(now)
    threshold = ctx.settings.completion_threshold
    async with ctx.db.transaction() as conn:
        current = await progress_sql.lock_progress(conn, user_id, list(groups))
        writes: list[ProgressWrite] = []
        for lesson_id, group in groups.items():
            lesson, _ = lessons[lesson_id]
            latest_event = max(group, key=lambda e: e.client_time)
            duration = _duration(lesson, latest_event.duration_seconds)
            row = current.get(lesson_id)
            stored = float(row["watched_seconds"]) if row else 0.0
            merged = merge_offline(
                stored,
                millis(row["client_time"]) if row and row["client_time"] else None,
                [(millis(e.client_time), e.watched_seconds, e.position_seconds) for e in group],
                duration,
            )
            if row is not None and merged.position is None and merged.watched <= stored:
                continue  # nothing the database does not already know: a replay
            position = merged.position if merged.position is not None else float(row["position_seconds"])
            writes.append(
                ProgressWrite(
                    user_id=user_id,
                    lesson_id=lesson_id,
                    position_seconds=position,
                    watched_seconds=merged.watched,
                    duration_seconds=duration,
                    completed=bool(row and row["completed"]) or is_complete(merged.watched, duration, threshold),
                    heard_at_ms=now_ms,
                    client_ms=merged.latest_ms,
                )
            )
        written = {str(r["lesson_id"]): r for r in await progress_sql.upsert_many(conn, writes, return_all=True)}
        course_ids = {lessons[lid][1] for lid in groups}
        fractions = {}
        for course_id in course_ids:
            completed, total = await progress_sql.course_progress(conn, user_id, course_id)
            fractions[course_id] = course_fraction(completed, total)

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
    if not _breaker.closed:
        return
    store = progress_redis.store_for(ctx.redis)
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
                )
            )
        for course_id, value in fractions.items():
            await store.set_course_progress(user_id, course_id, value)
    except RedisError as exc:
        # PostgreSQL has it all; a stale snapshot only flushes lower values, which GREATEST ignores.
        _breaker.trip("sync merge", exc)


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
    store = progress_redis.store_for(ctx.redis)
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
    return await progress_redis.store_for(ctx.redis).dirty_count()

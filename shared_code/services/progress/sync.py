"""Offline sync: a player's queued events, applied on their own merits in one transaction.

Client times are hints: an event's time is clamped to the server's clock (nothing later
than now; too far ahead is refused) and an event from before the student's enrolment is
refused. Events are then applied through the watch rule (`domain/watch.py`
`merge_offline`) on the same timeline as online heartbeats, so a batch earns at most the
allowance + the span its events cover × the rate, and replays add nothing. What
PostgreSQL then holds is merged into the Redis snapshots so the next heartbeat builds on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from shared_code.adapters.postgres import progress as progress_sql
from shared_code.adapters.postgres.progress import ProgressWrite
from shared_code.adapters.redis import progress as progress_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.watch import (
    clamp_event_ms,
    course_fraction,
    held_duration,
    is_complete,
    merge_offline,
    millis,
    stored_watch,
)
from shared_code.errors import Forbidden, NotFound
from shared_code.models.progress import LessonProgress, Refusal, SyncBatch, SyncEvent, SyncResult
from shared_code.services.progress.completion import after_completion, enrolled_lesson, not_watched

FUTURE_TOLERANCE = timedelta(minutes=5)


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
    now = datetime.now(UTC)
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
            found = await enrolled_lesson(ctx, principal, lesson_id)
            refusal = not_watched(found[0])
            if refusal is not None:
                unusable[lesson_id] = refusal
            else:
                lessons[lesson_id] = found
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
            duration, completable = held_duration(lesson, latest_event.duration_seconds)
            row = current.get(lesson_id)
            stored = stored_watch(row)
            timed = [(clamp_event_ms(millis(e.client_time), now_ms), e.watched_seconds, e.position_seconds) for e in kept]
            merged = merge_offline(stored, timed, duration)
            if row is not None and merged.position is None and merged.watched <= stored.watched:
                continue  # nothing the database does not already know: a replay
            if merged.position is not None:
                position = merged.position
            else:
                assert row is not None  # with nothing stored every kept event is newer and sets a position
                position = float(row["position_seconds"])
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

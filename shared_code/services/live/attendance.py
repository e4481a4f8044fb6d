"""Attendance of live classes: a join and a leave row per connection in Azure Tables, and the
minutes each student was present.

Rows live in the attendance table, partition = class id, many rows to an entity
(`attendance_rows.py`), keyed by the stream entry of their first row, so a retried write
lands on the same entity. On their way there they wait in a Redis stream of the class,
written in the same step as presence, so no row is only in a process's memory. A student
with several tabs has overlapping connections; minutes present merge them, so two tabs for
ten minutes are ten minutes, not twenty. A connection without a leave row (still open, or
its disconnect event was lost) counts until the class ended, or until now while it runs.

`attendance_summary(ctx, class_id)` is the one entry point other areas (analytics) use.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared_code.adapters.postgres import classes as classes_sql
from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.redis import live_attendance as attendance_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import NotFound
from shared_code.models.live import AttendanceReport, AttendanceRow, StudentAttendance
from shared_code.platform import outbox
from shared_code.services.live import attendance_rows, class_access, class_walk
from shared_code.services.live.class_access import ClassAccess

logger = logging.getLogger("lectern.live")

def attendance_entity(
    class_id: str, *, user_id: str, user_name: str, connection_id: str, kind: str, at: datetime
) -> dict[str, Any]:
    """One row, as every reader gets it (`attendance_rows.row_entity`)."""
    return attendance_rows.row_entity(
        class_id, user_id=user_id, user_name=user_name, connection_id=connection_id, kind=kind,
        at=at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )


class PendingRows:
    """The classes whose attendance stream this process added rows to: a moment later their
    rows go to Table storage in batches.

    The rows themselves wait in Redis (`adapters/redis/live_attendance.py`), appended by the
    presence scripts in the step that admits or lets go of the connection, so a process
    that dies before its flush loses none: the parked-effects timer writes what it left
    (`recover`). A connect storm of a thousand students is about ten writes of one entity
    each (`attendance_rows.py`: a hundred rows to an entity); a write that fails goes to
    the outbox queue as one message and is retried from there.
    """

    def __init__(self, delay_seconds: float = 0.5) -> None:
        self.delay_seconds = delay_seconds
        # This process's name in the streams' consumer group. What a consumer took and never
        # finished is taken over by idle time, not by name, so the name need only be unique.
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._classes: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def noted(self, ctx: AppContext, class_id: str) -> None:
        """The class's stream got a row: write it with the next batch."""
        self._classes.add(class_id)
        if self._task is None or self._task.done():
            # A background task of the context, so shutdown (and a test's teardown) waits for
            # the rows' write instead of leaving them to the timer.
            self._task = ctx.background.spawn(self._flush_later(ctx))

    async def _flush_later(self, ctx: AppContext) -> None:
        await asyncio.sleep(self.delay_seconds)
        await self.flush(ctx)

    async def flush(self, ctx: AppContext) -> None:
        pending, self._classes = self._classes, set()
        for class_id in pending:
            try:
                await write_pending(ctx, class_id, self.consumer)
            except Exception as exc:  # noqa: BLE001 - the rows stay in the stream for the timer
                logger.warning("attendance rows of a class left for the timer: %s", type(exc).__name__)

    async def drain(self, ctx: AppContext) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._classes:
            await self.flush(ctx)


BATCH_SIZE = 100  # rows taken from a class's stream per write
ATTENDANCE_EFFECT = "attendance.rows"
# Rows another process took this long ago and never finished are taken over by the timer.
ABANDONED_AFTER_MS = 30_000
# The timer looks at running classes and at those that ended this recently (their last
# leave rows come as the class closes its connections).
RECENTLY_ENDED_SECONDS = 3600


async def write_rows(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Upserts one partition's entities: chunks one upsert each, rows of one entity each (a
    message queued before chunks) in batch transactions. A retry rewrites the same entities.

    The outbox effect `attendance.rows` (the bootstrap puts it in `ctx.effects`). A write
    that waited in the queue (Storage was down) may land after an erasure of someone it
    names: their rows take the name the erasure left, as the erasure would have made them."""
    entities: list[dict[str, Any]] = await _erasures_honoured(ctx, payload["entities"])
    if all(attendance_rows.is_chunk(e) for e in entities):
        for entity in entities:
            await ctx.tables.upsert(payload["table"], entity)
    else:
        await ctx.tables.insert_batch(payload["table"], entities)


async def _erasures_honoured(ctx: AppContext, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    named = attendance_rows.join_user_ids(entities)
    if not named:
        return entities
    async with ctx.db.connection() as conn:
        erased = await users_sql.erased_names(conn, sorted(named))
    for user_id, name in erased.items():
        entities = [attendance_rows.with_name(entity, user_id, name) for entity in entities]
    return entities


async def write_pending(ctx: AppContext, class_id: str, consumer: str, *, min_idle_ms: int | None = None) -> int:
    """Writes the class's rows waiting in Redis, a batch at a time, each batch leaving the
    stream once it is written or its retry queued; returns how many rows. With
    `min_idle_ms`, also the rows another consumer took that long ago and never finished.
    Raises when a batch could be neither written nor queued: its rows stay in the stream."""
    written = 0
    while True:
        rows = await attendance_redis.take(ctx.redis, class_id, consumer, count=BATCH_SIZE, min_idle_ms=min_idle_ms)
        if not rows:
            return written
        entities = [
            attendance_entity(class_id, user_id=row.user_id, user_name=row.name, connection_id=row.connection_id,
                              kind=row.kind, at=row.at)
            for row in rows
        ]
        chunks = attendance_rows.chunk_entities(class_id, [row.entry_id for row in rows], entities)
        await outbox.perform(ctx, ATTENDANCE_EFFECT, {"table": ctx.settings.attendance_table, "entities": chunks})
        await attendance_redis.done(ctx.redis, class_id, [row.entry_id for row in rows])
        written += len(rows)
        if len(rows) < BATCH_SIZE:
            return written


async def recover(
    ctx: AppContext, *, abandoned_after_ms: int = ABANDONED_AFTER_MS, page_size: int = class_walk.PAGE_SIZE
) -> int:
    """Writes the attendance rows a process left in Redis when it died before writing them:
    rows nobody took, and rows taken and not finished for `abandoned_after_ms`, of every
    running and recently ended class. Run by the parked-effects timer; returns how many rows."""

    async def page(conn: Conn, after: str, limit: int) -> list[str]:
        return await classes_sql.attendance_class_ids(conn, RECENTLY_ENDED_SECONDS, after, limit)

    total = 0
    async for class_id in class_walk.class_ids(ctx, page, page_size=page_size):
        try:
            total += await write_pending(ctx, class_id, ctx.attendance_rows.consumer, min_idle_ms=abandoned_after_ms)
        except Exception as exc:  # noqa: BLE001 - the rows stay for the next run
            logger.warning("attendance rows of a class could not be written yet: %s", type(exc).__name__)
    if total:
        logger.info("attendance rows a process left behind written: %s", total)
    return total


# --- minutes present (pure) ----------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime


def merged_seconds(intervals: Iterable[Interval]) -> float:
    """Total time covered by the intervals, overlaps counted once."""
    total = 0.0
    current_start: datetime | None = None
    current_end: datetime | None = None
    for iv in sorted((i for i in intervals if i.end > i.start), key=lambda i: i.start):
        if current_end is None or iv.start > current_end:
            if current_end is not None and current_start is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = iv.start, iv.end
        elif iv.end > current_end:
            current_end = iv.end
    if current_start is not None and current_end is not None:
        total += (current_end - current_start).total_seconds()
    return total


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def summarize(
    rows: list[AttendanceRow], *, open_until: datetime, tutor_id: str | None = None
) -> list[StudentAttendance]:
    """Minutes present per user from join/leave rows.

    A connection still open counts until `open_until` (the class's end, or now). The
    class's tutor is left out: attendance is about students.
    """
    by_connection: dict[str, dict[str, AttendanceRow]] = {}
    for row in rows:
        by_connection.setdefault(row.connection_id, {})[row.kind] = row
    per_user: dict[str, dict[str, Any]] = {}
    for kinds in by_connection.values():
        join = kinds.get("join")
        leave = kinds.get("leave")
        anchor = join or leave
        assert anchor is not None
        user_id = str(anchor.user_id)
        if tutor_id and user_id == tutor_id:
            continue
        entry = per_user.setdefault(
            user_id, {"name": anchor.user_name, "intervals": [], "connections": 0, "open": False, "first": None, "last": None}
        )
        entry["connections"] += 1
        if anchor.user_name:
            entry["name"] = anchor.user_name
        if join is None:
            # A leave without its join (the join write was lost): nothing to count but the sighting.
            start = end = leave.at  # type: ignore[union-attr]
        else:
            start = join.at
            if leave is not None:
                end = max(leave.at, start)
            else:
                end = max(open_until, start)
                entry["open"] = True
        entry["intervals"].append(Interval(start, end))
        entry["first"] = start if entry["first"] is None else min(entry["first"], start)
        entry["last"] = end if entry["last"] is None else max(entry["last"], end)
    out = [
        StudentAttendance(
            user_id=user_id,
            name=e["name"],
            minutes_present=round(merged_seconds(e["intervals"]) / 60, 2),
            connections=e["connections"],
            first_joined_at=e["first"],
            last_seen_at=e["last"],
            present=e["open"],
        )
        for user_id, e in per_user.items()
    ]
    out.sort(key=lambda s: (-s.minutes_present, s.name, str(s.user_id)))
    return out


def row_from_entity(entity: dict[str, Any]) -> AttendanceRow | None:
    try:
        return AttendanceRow(
            user_id=entity["userId"],
            user_name=entity.get("userName", ""),
            connection_id=entity["connectionId"],
            kind=entity["kind"],
            at=_parse_time(entity["at"]),
        )
    except (KeyError, ValueError):
        return None


# --- reading ---------------------------------------------------------------------------------
async def attendance_summary(ctx: AppContext, class_id: str) -> AttendanceReport:
    """Join/leave rows of the class (oldest first) and minutes present per student."""
    async with ctx.db.connection() as conn:
        live_class = await classes_sql.get_class(conn, class_id)
    if live_class is None:
        raise NotFound("No such class.")
    entities = [e async for e in ctx.tables.query(ctx.settings.attendance_table, "PartitionKey eq @pk",
                                                  {"pk": str(class_id)})]
    rows = [row for row in map(row_from_entity, attendance_rows.unique_rows(entities)) if row is not None]
    rows.sort(key=lambda r: (r.at, r.kind != "join", r.connection_id))
    now = datetime.now(UTC)
    ended_at = live_class.ended_at
    open_until = min(ended_at, now) if ended_at else now
    students = summarize(rows, open_until=open_until, tutor_id=str(live_class.tutor_id))
    return AttendanceReport(class_id=class_id, rows=rows, students=students)


async def report(
    ctx: AppContext, principal: Principal, class_id: str, *, found: ClassAccess | None = None
) -> AttendanceReport:
    """`GET /api/classes/{classId}/attendance`: the owning tutor and admins."""
    if found is None:
        await class_access.require_manager(ctx, principal, class_id)
    return await attendance_summary(ctx, class_id)

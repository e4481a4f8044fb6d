"""Attendance of live classes: a join and a leave row per connection in Azure Tables, and the
minutes each student was present.

Rows live in the attendance table, partition = class id, row key = connection id and
kind, so a retried write lands on the same row. A student with several tabs has
overlapping connections; minutes present merge them, so two tabs for ten minutes are ten
minutes, not twenty. A connection without a leave row (still open, or its disconnect event
was lost) counts until the class ended, or until now while it runs.

`attendance_summary(ctx, class_id)` is the one entry point other areas (analytics) use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared_code.adapters import table_keys
from shared_code.adapters.postgres import classes as classes_sql
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import NotFound
from shared_code.models.live import AttendanceReport, AttendanceRow, StudentAttendance
from shared_code.platform import outbox
from shared_code.services.live import class_access
from shared_code.services.live.class_access import ClassAccess

logger = logging.getLogger("lectern.live")

def attendance_entity(
    class_id: str, *, user_id: str, user_name: str, connection_id: str, kind: str, at: datetime
) -> dict[str, Any]:
    return {
        "PartitionKey": class_id,
        "RowKey": table_keys.attendance_row_key(connection_id, kind),
        "userId": user_id,
        "userName": user_name,
        "connectionId": connection_id,
        "kind": kind,
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


class RowBuffer:
    """Attendance rows wait here for a moment and go to Table storage in batches.

    A connect storm of a thousand students is ten batch transactions (100 rows each, one
    partition per class) instead of a thousand single writes. A batch that fails goes to
    the outbox queue as one message and is retried from there.
    """

    def __init__(self, delay_seconds: float = 0.5) -> None:
        self.delay_seconds = delay_seconds
        self._rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, ctx: AppContext, table: str, entity: dict[str, Any]) -> None:
        self._rows.setdefault((table, entity["PartitionKey"]), []).append(entity)
        if self._task is None or self._task.done():
            # A background task of the context, so shutdown (and a test's teardown) waits for
            # the rows instead of losing them.
            self._task = ctx.background.spawn(self._flush_later(ctx))

    async def _flush_later(self, ctx: AppContext) -> None:
        await asyncio.sleep(self.delay_seconds)
        await self.flush(ctx)

    async def flush(self, ctx: AppContext) -> None:
        pending, self._rows = self._rows, {}
        for (table, _), rows in pending.items():
            # A batch may not name a row twice; the later sighting wins.
            entities = list({e["RowKey"]: e for e in rows}.values())
            for start in range(0, len(entities), BATCH_SIZE):
                chunk = entities[start : start + BATCH_SIZE]
                try:
                    await outbox.perform(ctx, ATTENDANCE_EFFECT, {"table": table, "entities": chunk})
                except Exception:  # noqa: BLE001 - neither the write nor its retry could be arranged
                    logger.exception("%s attendance rows could not be written or queued", len(chunk))

    async def drain(self, ctx: AppContext) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._rows:
            await self.flush(ctx)


BATCH_SIZE = 100  # Table storage's limit per batch transaction
ATTENDANCE_EFFECT = "attendance.rows"


async def write_rows(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Upserts one partition's rows in one transaction: a retry rewrites the same rows.

    The outbox effect `attendance.rows` (the bootstrap puts it in `ctx.effects`)."""
    await ctx.tables.insert_batch(payload["table"], payload["entities"])


def record(
    ctx: AppContext, class_id: str, *, user_id: str, user_name: str, connection_id: str, kind: str, at: datetime
) -> None:
    """Queues the row for the next batch, off the event's critical path."""
    entity = attendance_entity(
        class_id, user_id=user_id, user_name=user_name, connection_id=connection_id, kind=kind, at=at
    )
    ctx.attendance_rows.add(ctx, ctx.settings.attendance_table, entity)


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
    rows: list[AttendanceRow] = []
    async for entity in ctx.tables.query(
        ctx.settings.attendance_table, "PartitionKey eq @pk", {"pk": str(class_id)}
    ):
        row = row_from_entity(entity)
        if row is not None:
            rows.append(row)
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

"""The privacy sections kept in Azure Tables: the audit trail, the content-access log,
attendance and the progress change log.

Each query names the partitions the user's rows can be in where the key layout allows
(`adapters/table_keys.py`): attendance by class, access rows by course, the change log by
user. The audit trail is partitioned by month, not by person, so its query filters the
whole table on the actor and target columns. Erasure rewrites only the personal column of
each row (a merge), so counts and minutes present stay right.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from shared_code.context import AppContext
from shared_code.services.live import attendance, attendance_rows
from shared_code.services.privacy.sections import ERASED_NAME, Subject


async def _rows(
    ctx: AppContext, table: str, queries: Iterable[tuple[str, dict[str, Any]]], limit: int | None
) -> AsyncIterator[dict[str, Any]]:
    count = 0
    for clause, params in queries:
        async for row in ctx.tables.query(table, clause, params, limit=None if limit is None else limit - count):
            yield row
            count += 1
            if limit is not None and count >= limit:
                return


async def _rewrite(
    ctx: AppContext, table: str, queries: Iterable[tuple[str, dict[str, Any]]], field: str, value: str
) -> int:
    """Sets `field` to `value` on every row the queries find that does not hold it yet."""
    changed = 0
    async for row in _rows(ctx, table, queries, None):
        if row.get(field) != value:
            await ctx.tables.upsert(table, {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], field: value})
            changed += 1
    return changed


# --- audit -----------------------------------------------------------------------------------
def _audit(subject: Subject) -> list[tuple[str, dict[str, Any]]]:
    return [("actorId eq @u or target eq @t", {"u": subject.user_id, "t": f"user:{subject.user_id}"})]


def export_audit(ctx: AppContext, subject: Subject, limit: int | None) -> AsyncIterator[dict[str, Any]]:
    return _rows(ctx, ctx.settings.audit_table, _audit(subject), limit)


async def erase_audit(ctx: AppContext, subject: Subject) -> int:
    """The actor's name on the rows of what the user did; the rows, ids and actions stay:
    the trail still says what happened, no longer to whom by name."""
    queries = [("actorId eq @u", {"u": subject.user_id})]
    return await _rewrite(ctx, ctx.settings.audit_table, queries, "actorName", ERASED_NAME)


# --- content access ----------------------------------------------------------------------------
def _access(subject: Subject) -> list[tuple[str, dict[str, Any]]]:
    # Partitions are `<courseId>_<yyyymmdd>`: one key range per course.
    return [
        ("PartitionKey ge @lo and PartitionKey lt @hi and userId eq @u",
         {"lo": f"{course_id}_", "hi": f"{course_id}`", "u": subject.user_id})
        for course_id in subject.course_ids
    ]


def export_access(ctx: AppContext, subject: Subject, limit: int | None) -> AsyncIterator[dict[str, Any]]:
    return _rows(ctx, ctx.settings.access_log_table, _access(subject), limit)


async def erase_access(ctx: AppContext, subject: Subject) -> int:
    """The browser's user agent is what identifies a person there; the row (who, by id,
    opened what and when) stays for the course's counts."""
    return await _rewrite(ctx, ctx.settings.access_log_table, _access(subject), "userAgent", "")


# --- attendance ----------------------------------------------------------------------------------
# A class's rows sit many to an entity (`services/live/attendance_rows.py`), so each class's
# partition is read whole and the person's rows picked out of it.
def _attendance(subject: Subject) -> list[tuple[str, dict[str, Any]]]:
    return [("PartitionKey eq @c", {"c": class_id}) for class_id in subject.class_ids]


async def export_attendance(ctx: AppContext, subject: Subject, limit: int | None) -> AsyncIterator[dict[str, Any]]:
    count = 0
    for clause, params in _attendance(subject):
        entities = [e async for e in ctx.tables.query(ctx.settings.attendance_table, clause, params)]
        for row in attendance_rows.unique_rows(entities):
            if row.get("userId") != subject.user_id:
                continue
            yield row
            count += 1
            if limit is not None and count >= limit:
                return


async def erase_attendance(ctx: AppContext, subject: Subject) -> int:
    """The person's name on their join rows; every row stays, so minutes present stay right.
    Rows still waiting in a class's Redis stream are written first, so none lands after the
    rename with the name on it."""
    for class_id in subject.class_ids:
        await attendance.write_pending(ctx, class_id, ctx.attendance_rows.consumer)
    changed = 0
    async for entity in _rows(ctx, ctx.settings.attendance_table, _attendance(subject), None):
        rewritten, rows = attendance_rows.renamed(entity, subject.user_id, ERASED_NAME)
        if rewritten is not None:
            await ctx.tables.upsert(ctx.settings.attendance_table, rewritten)
            changed += rows
    return changed


# --- change log -----------------------------------------------------------------------------------
def export_changes(ctx: AppContext, subject: Subject, limit: int | None) -> AsyncIterator[dict[str, Any]]:
    return _rows(ctx, ctx.settings.change_log_table, [("PartitionKey eq @u", {"u": subject.user_id})], limit)

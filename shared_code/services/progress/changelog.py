"""The change log: an Azure Table row per progress completion, quiz attempt and leaderboard
change, so a student's history can be replayed and audited without PostgreSQL.

Rows are partitioned by user id (one student's history is one partition) and the row key
starts with the event's time in zero-padded epoch milliseconds, so rows sort by time and
a time range is a row-key range. The rest of the row key names the event, which makes the
write idempotent: a retried write lands on the same row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shared_code.adapters import table_keys
from shared_code.context import AppContext
from shared_code.models.progress import Change, ChangeKind
from shared_code.pagination import decode_cursor, encode_cursor
from shared_code.platform import outbox


def change_entity(
    user_id: str,
    kind: ChangeKind,
    *,
    at: datetime,
    course_id: str | None,
    subject_id: str,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "PartitionKey": user_id,
        "RowKey": table_keys.change_row_key(at, kind, subject_id),
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "kind": kind,
        "courseId": course_id or "",
        "subjectId": subject_id,
        "details": json.dumps(details or {}, separators=(",", ":"), default=str)[:30000],
    }


async def record(
    ctx: AppContext,
    user_id: str,
    kind: ChangeKind,
    *,
    at: datetime,
    course_id: str | None,
    subject_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Writes the row now, or queues it for retry; raises only when neither worked.

    Its parameters are `change_entity`'s on purpose (callers name them by keyword); the row
    itself is built there, once."""
    entity = change_entity(user_id, kind, at=at, course_id=course_id, subject_id=subject_id, details=details)
    await outbox.perform(ctx, "table.upsert", {"table": ctx.settings.change_log_table, "entity": entity})


async def read_changes(
    ctx: AppContext,
    user_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Change], str | None]:
    """One student's changes from `since` up to and including `until`, oldest first."""
    clauses = ["PartitionKey eq @pk"]
    params: dict[str, Any] = {"pk": user_id}
    after = (decode_cursor(cursor) or {}).get("rk")
    if after:
        clauses.append("RowKey gt @after")
        params["after"] = str(after)
    if since is not None:
        clauses.append("RowKey ge @lo")
        params["lo"] = table_keys.change_row_bound(table_keys.millis(since))
    if until is not None:
        # Every key of the last millisecond sorts below the next millisecond's prefix.
        clauses.append("RowKey lt @hi")
        params["hi"] = table_keys.change_row_bound(table_keys.millis(until) + 1)
    items: list[Change] = []
    last_key: str | None = None
    async for row in ctx.tables.query(ctx.settings.change_log_table, " and ".join(clauses), params, limit=limit + 1):
        if len(items) == limit:
            return items, encode_cursor({"rk": last_key})
        items.append(_change(row))
        last_key = row["RowKey"]
    return items, None


def _change(row: dict[str, Any]) -> Change:
    try:
        details = json.loads(row.get("details") or "{}")
    except ValueError:
        details = {"raw": row.get("details")}
    return Change(
        id=row["RowKey"],
        at=row["at"],
        kind=row["kind"],
        course_id=row.get("courseId") or None,
        subject_id=row.get("subjectId") or None,
        details=details if isinstance(details, dict) else {"value": details},
    )

"""The change log: an Azure Table row per progress completion, quiz attempt and leaderboard
change, so a student's history can be replayed and audited without PostgreSQL. A quiz
attempt that raised the student's best carries that leaderboard change on its own row (one
write, not two), and reads give it back as a change of its own.

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
    """One student's changes from `since` up to and including `until`, oldest first.

    A row can hold two changes (a quiz attempt and its move on the leaderboard, `_changes`),
    so the cursor names the row it stopped in and how many of that row's changes the pages
    before gave; a cursor without that count (issued before rows held two) means the whole
    row was given."""
    clauses = ["PartitionKey eq @pk"]
    params: dict[str, Any] = {"pk": user_id}
    position = decode_cursor(cursor) or {}
    resume, given = position.get("rk"), position.get("given")
    if not isinstance(given, int) or isinstance(given, bool) or given < 0:
        given = None  # the whole row was given
    if resume:
        clauses.append("RowKey gt @after" if given is None else "RowKey ge @after")
        params["after"] = str(resume)
    if since is not None:
        clauses.append("RowKey ge @lo")
        params["lo"] = table_keys.change_row_bound(table_keys.millis(since))
    if until is not None:
        # Every key of the last millisecond sorts below the next millisecond's prefix.
        clauses.append("RowKey lt @hi")
        params["hi"] = table_keys.change_row_bound(table_keys.millis(until) + 1)
    items: list[Change] = []
    # A move on the leaderboard is logged once, on its own row or on its attempt's; should a
    # retried effect have written both, the page gives it once (the ids are the same).
    given_ids: set[str] = set()
    # Each row gives at least one change, so limit + 1 rows always tell whether more follow.
    async for row in ctx.tables.query(ctx.settings.change_log_table, " and ".join(clauses), params, limit=limit + 1):
        skip = given if given is not None and row["RowKey"] == resume else 0
        for n, change in enumerate(_changes(row)):
            if n < skip or change.id in given_ids:
                continue
            given_ids.add(change.id)
            if len(items) == limit:
                return items, encode_cursor({"rk": row["RowKey"], "given": n})
            items.append(change)
    return items, None


# The key of a `quiz.attempted` row's details that holds the attempt's move on the
# leaderboard ({"points", "gained"}), written with the attempt's row rather than as a row of
# its own (`quiz_effects.run_graded`); read back as the `leaderboard.changed` it stands for.
LEADERBOARD_PART = "leaderboard"


def _changes(row: dict[str, Any]) -> list[Change]:
    """The changes a row holds, in the order the two-row layout gave them (by row key)."""
    change = _change(row)
    part = change.details.get(LEADERBOARD_PART) if change.kind == "quiz.attempted" else None
    if not isinstance(part, dict):
        return [change]
    del change.details[LEADERBOARD_PART]
    moved = Change(
        id=table_keys.change_row_key(change.at, "leaderboard.changed", change.subject_id or ""),
        at=change.at,
        kind="leaderboard.changed",
        course_id=change.course_id,
        subject_id=change.subject_id,
        details={"quizId": change.details.get("quizId"), **part},
    )
    return [moved, change]


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

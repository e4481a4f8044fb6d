"""SQL for `notifications`: writing a user's notification, fanning one out to a course's
enrolled students in one statement, reading the feed and marking it read.

Every insert is `ON CONFLICT (user_id, dedupe_key) DO NOTHING ... RETURNING`: what comes
back is only what is new, so the caller pushes only rows nobody has been told about yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one
from shared_code.domain.notifications import Draft


@dataclass(frozen=True)
class NotificationRow:
    """A `notifications` row; its fields are the columns every query here selects."""

    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    dedupe_key: str
    created_at: datetime
    read_at: datetime | None


COLUMNS = columns(NotificationRow)


async def insert_for_user(conn: Conn, user_id: str, draft: Draft) -> NotificationRow | None:
    """The new row, or None when the user already has this notification."""
    return await fetch_one(
        conn, NotificationRow,
        f"""INSERT INTO notifications (user_id, kind, title, body, data, dedupe_key, created_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING {COLUMNS}""",
        (user_id, draft.kind, draft.title, draft.body, Jsonb(draft.data), draft.key, draft.at),
    )


async def insert_for_enrolled(
    conn: Conn, drafts: Sequence[tuple[str, str | None, Draft]]
) -> list[NotificationRow]:
    """One statement for every `(course_id, also_user_id, draft)`: the draft goes to each
    active enrolment of the course (and to `also_user_id`, e.g. the class's tutor). However
    many students, one round trip; returns the rows that are new."""
    if not drafts:
        return []
    return await fetch_all(
        conn, NotificationRow,
        f"""WITH drafts AS (
                SELECT * FROM unnest(%(courses)s::uuid[], %(also)s::uuid[], %(kinds)s::text[], %(titles)s::text[],
                                     %(bodies)s::text[], %(data)s::jsonb[], %(keys)s::text[], %(ats)s::timestamptz[])
                       AS d(course_id, also_user_id, kind, title, body, data, dedupe_key, at)
            ), recipients AS (
                SELECT e.user_id, d.* FROM drafts d
                  JOIN enrollments e ON e.course_id = d.course_id AND e.status = 'active'
                UNION ALL
                SELECT d.also_user_id, d.* FROM drafts d WHERE d.also_user_id IS NOT NULL
            )
            INSERT INTO notifications (user_id, kind, title, body, data, dedupe_key, created_at)
            SELECT user_id, kind, title, body, data, dedupe_key, at FROM recipients
            ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING {COLUMNS}""",
        {
            "courses": [c for c, _, _ in drafts],
            "also": [a for _, a, _ in drafts],
            "kinds": [d.kind for _, _, d in drafts],
            "titles": [d.title for _, _, d in drafts],
            "bodies": [d.body for _, _, d in drafts],
            "data": [Jsonb(d.data) for _, _, d in drafts],
            "keys": [d.key for _, _, d in drafts],
            "ats": [d.at for _, _, d in drafts],
        },
    )


async def page(
    conn: Conn, user_id: str, *, unread_only: bool, after: tuple[datetime, str] | None, limit: int
) -> list[NotificationRow]:
    """One page of a user's feed, newest first (keyset on created_at, id)."""
    where, params = "user_id = %(user)s", {"user": user_id, "limit": limit}
    if unread_only:
        where += " AND read_at IS NULL"
    if after is not None:
        where += " AND (created_at, id) < (%(after_time)s, %(after_id)s)"
        params["after_time"], params["after_id"] = after
    return await fetch_all(
        conn, NotificationRow,
        f"SELECT {COLUMNS} FROM notifications WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s",  # noqa: S608 - `where` is built from fixed strings; values are parameters
        params,
    )


async def unread_count(conn: Conn, user_id: str) -> int:
    cur = await conn.execute("SELECT count(*) AS n FROM notifications WHERE user_id = %s AND read_at IS NULL", (user_id,))
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def mark_read(conn: Conn, user_id: str, ids: list[uuid.UUID] | None, at: datetime) -> int:
    """Marks the user's own unread rows read (those of `ids`, or all of them when None);
    another user's id matches nothing. Returns how many changed."""
    if ids is None:
        cur = await conn.execute(
            "UPDATE notifications SET read_at = %s WHERE user_id = %s AND read_at IS NULL", (at, user_id)
        )
    else:
        cur = await conn.execute(
            "UPDATE notifications SET read_at = %s WHERE user_id = %s AND id = ANY(%s) AND read_at IS NULL",
            (at, user_id, ids),
        )
    return cur.rowcount

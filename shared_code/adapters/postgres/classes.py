"""SQL for `live_classes`: creating, reading, listing and moving a class through its states."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared_code.adapters.postgres.pool import Conn, Row
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one


@dataclass(frozen=True)
class ClassRow:
    """A `live_classes` row; its fields are the columns every query here selects."""

    id: uuid.UUID
    course_id: uuid.UUID
    tutor_id: uuid.UUID
    title: str
    scheduled_at: datetime
    status: str  # scheduled, live, ended
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    recording_asset_id: uuid.UUID | None
    recording_attached_at: datetime | None


_COLUMNS = columns(ClassRow)


async def insert_class(
    conn: Conn, class_id: str, course_id: str, tutor_id: str, title: str, scheduled_at: datetime
) -> ClassRow:
    row = await fetch_one(
        conn, ClassRow,
        f"""INSERT INTO live_classes (id, course_id, tutor_id, title, scheduled_at)
            VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
        (class_id, course_id, tutor_id, title, scheduled_at),
    )
    assert row is not None
    return row


async def update_scheduled(conn: Conn, class_id: str, title: str | None, scheduled_at: datetime | None) -> ClassRow | None:
    """Renames or reschedules a class while it is still scheduled; None when it has started
    (or is gone). Fields passed as None stay."""
    return await fetch_one(
        conn, ClassRow,
        f"""UPDATE live_classes SET title = COALESCE(%(title)s, title), scheduled_at = COALESCE(%(at)s, scheduled_at)
             WHERE id = %(id)s AND status = 'scheduled'
         RETURNING {_COLUMNS}""",
        {"id": class_id, "title": title, "at": scheduled_at},
    )


async def get_class(conn: Conn, class_id: str) -> ClassRow | None:
    return await fetch_one(conn, ClassRow, f"SELECT {_COLUMNS} FROM live_classes WHERE id = %s", (class_id,))


async def change_status(conn: Conn, class_id: str, allowed_from: list[str], to: str) -> ClassRow | None:
    """Moves the class to `to` when its status is one of `allowed_from`; None otherwise."""
    return await fetch_one(
        conn, ClassRow,
        f"""UPDATE live_classes
               SET status = %(to)s,
                   started_at = CASE WHEN %(to)s = 'live' THEN COALESCE(started_at, now()) ELSE started_at END,
                   ended_at = CASE WHEN %(to)s = 'ended' THEN now() ELSE ended_at END
             WHERE id = %(id)s AND status = ANY(%(from)s)
         RETURNING {_COLUMNS}""",
        {"id": class_id, "to": to, "from": allowed_from},
    )


async def list_for_course(
    conn: Conn, course_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[ClassRow]:
    """Classes of a course, latest scheduled first (keyset on scheduled_at, id)."""
    if after is None:
        return await fetch_all(
            conn, ClassRow,
            f"""SELECT {_COLUMNS} FROM live_classes WHERE course_id = %s
                 ORDER BY scheduled_at DESC, id DESC LIMIT %s""",
            (course_id, limit),
        )
    return await fetch_all(
        conn, ClassRow,
        f"""SELECT {_COLUMNS} FROM live_classes
             WHERE course_id = %s AND (scheduled_at, id) < (%s, %s)
             ORDER BY scheduled_at DESC, id DESC LIMIT %s""",
        (course_id, after[0], after[1], limit),
    )


async def attach_recording(conn: Conn, class_id: str, asset_id: str) -> ClassRow | None:
    """Sets the class's recording when the class has ended; None when it has not (or is gone)."""
    return await fetch_one(
        conn, ClassRow,
        f"""UPDATE live_classes SET recording_asset_id = %(asset)s, recording_attached_at = now()
             WHERE id = %(id)s AND status = 'ended'
         RETURNING {_COLUMNS}""",
        {"id": class_id, "asset": asset_id},
    )


async def detach_recording(conn: Conn, class_id: str) -> str | None:
    """Removes the class's recording; the asset id it had, or None when it had none."""
    cur = await conn.execute(
        """WITH old AS (SELECT id, recording_asset_id FROM live_classes
                         WHERE id = %(id)s AND recording_asset_id IS NOT NULL FOR UPDATE)
           UPDATE live_classes c SET recording_asset_id = NULL, recording_attached_at = NULL
             FROM old WHERE c.id = old.id
         RETURNING old.recording_asset_id""",
        {"id": class_id},
    )
    row = await cur.fetchone()
    return None if row is None else str(row["recording_asset_id"])


async def calendar_of(
    conn: Conn,
    user_id: str,
    *,
    as_owner: bool,
    start: datetime,
    end: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Row]:
    """Scheduled or running classes in [start, end) of the published courses the user is
    enrolled in and, with `as_owner`, of the courses they own; earliest first (keyset on
    scheduled_at, id). Each row names the user's `role` in it."""
    params: dict[str, Any] = {"user": user_id, "owner": as_owner, "start": start, "end": end, "limit": limit}
    keyset = ""
    if after is not None:
        keyset = "AND (lc.scheduled_at, lc.id) > (%(after_time)s, %(after_id)s)"
        params["after_time"], params["after_id"] = after
    cur = await conn.execute(
        f"""SELECT lc.id, lc.course_id, c.title AS course_title, lc.title, lc.scheduled_at, lc.status,
                   CASE WHEN %(owner)s AND c.owner_id = %(user)s THEN 'tutor' ELSE 'student' END AS role
              FROM live_classes lc JOIN courses c ON c.id = lc.course_id
             WHERE lc.status IN ('scheduled', 'live')
               AND lc.scheduled_at >= %(start)s AND lc.scheduled_at < %(end)s
               AND ((%(owner)s AND c.owner_id = %(user)s)
                    OR (c.published AND EXISTS (
                          SELECT 1 FROM enrollments e
                           WHERE e.course_id = c.id AND e.user_id = %(user)s AND e.status = 'active')))
               {keyset}
             ORDER BY lc.scheduled_at, lc.id
             LIMIT %(limit)s""",  # noqa: S608 - fixed fragments only
        params,
    )
    return await cur.fetchall()


async def starting_between(
    conn: Conn, start: datetime, end: datetime, *, after: tuple[datetime, str] | None = None, limit: int = 1000
) -> list[Row]:
    """A page of the scheduled (not yet started) classes whose start falls in (start, end],
    soonest first; the next page starts `after` the last one's (scheduled_at, id)."""
    keyset = "AND (scheduled_at, id) > (%s, %s)" if after else ""
    cur = await conn.execute(
        f"""SELECT {_COLUMNS} FROM live_classes
             WHERE status = 'scheduled' AND scheduled_at > %s AND scheduled_at <= %s {keyset}
             ORDER BY scheduled_at, id LIMIT %s""",  # noqa: S608 - fixed fragments only
        (start, end, *(after or ()), limit),
    )
    return await cur.fetchall()


async def live_in_course(conn: Conn, course_id: str) -> list[ClassRow]:
    """The course's classes that are live now."""
    return await fetch_all(
        conn, ClassRow, f"SELECT {_COLUMNS} FROM live_classes WHERE course_id = %s AND status = 'live'", (course_id,)
    )


# Where a walk over classes by id starts: below every id.
FIRST_ID = "00000000-0000-0000-0000-000000000000"


async def attendance_class_ids(conn: Conn, ended_within_seconds: int, after: str, limit: int) -> list[str]:
    """A page of the classes running now and those that ended within the last
    `ended_within_seconds`, by id after `after` (`FIRST_ID` for the first page)."""
    cur = await conn.execute(
        "SELECT id FROM live_classes"
        " WHERE (status = 'live' OR (status = 'ended' AND ended_at > now() - make_interval(secs => %s)))"
        " AND id > %s ORDER BY id LIMIT %s",
        (ended_within_seconds, after, limit),
    )
    return [str(row["id"]) for row in await cur.fetchall()]


async def live_class_ids(conn: Conn, after: str, limit: int) -> list[str]:
    """A page of the classes running now, by id after `after` (`FIRST_ID` for the first
    page): a timer walks them all however many run, a page per connection checkout."""
    cur = await conn.execute(
        "SELECT id FROM live_classes WHERE status = 'live' AND id > %s ORDER BY id LIMIT %s", (after, limit)
    )
    return [str(row["id"]) for row in await cur.fetchall()]

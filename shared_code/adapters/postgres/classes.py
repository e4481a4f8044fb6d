"""SQL for `live_classes`: creating, reading, listing and moving a class through its states."""

from __future__ import annotations

from datetime import datetime

from shared_code.adapters.postgres.pool import Conn, Row

_COLUMNS = "id, course_id, tutor_id, title, scheduled_at, status, started_at, ended_at, created_at"


async def insert_class(
    conn: Conn, class_id: str, course_id: str, tutor_id: str, title: str, scheduled_at: datetime
) -> Row:
    cur = await conn.execute(
        f"""INSERT INTO live_classes (id, course_id, tutor_id, title, scheduled_at)
            VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
        (class_id, course_id, tutor_id, title, scheduled_at),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_class(conn: Conn, class_id: str) -> Row | None:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM live_classes WHERE id = %s", (class_id,))
    return await cur.fetchone()


async def change_status(conn: Conn, class_id: str, allowed_from: list[str], to: str) -> Row | None:
    """Moves the class to `to` when its status is one of `allowed_from`; None otherwise."""
    cur = await conn.execute(
        f"""UPDATE live_classes
               SET status = %(to)s,
                   started_at = CASE WHEN %(to)s = 'live' THEN COALESCE(started_at, now()) ELSE started_at END,
                   ended_at = CASE WHEN %(to)s = 'ended' THEN now() ELSE ended_at END
             WHERE id = %(id)s AND status = ANY(%(from)s)
         RETURNING {_COLUMNS}""",
        {"id": class_id, "to": to, "from": allowed_from},
    )
    return await cur.fetchone()


async def list_for_course(
    conn: Conn, course_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[Row]:
    """Classes of a course, latest scheduled first (keyset on scheduled_at, id)."""
    if after is None:
        cur = await conn.execute(
            f"""SELECT {_COLUMNS} FROM live_classes WHERE course_id = %s
                 ORDER BY scheduled_at DESC, id DESC LIMIT %s""",
            (course_id, limit),
        )
    else:
        cur = await conn.execute(
            f"""SELECT {_COLUMNS} FROM live_classes
                 WHERE course_id = %s AND (scheduled_at, id) < (%s, %s)
                 ORDER BY scheduled_at DESC, id DESC LIMIT %s""",
            (course_id, after[0], after[1], limit),
        )
    return await cur.fetchall()


async def live_in_course(conn: Conn, course_id: str) -> list[Row]:
    """The course's classes that are live now."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM live_classes WHERE course_id = %s AND status = 'live'", (course_id,)
    )
    return await cur.fetchall()

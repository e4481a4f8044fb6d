"""SQL for `enrollments`: one row per (course, user), whatever the route in."""

from __future__ import annotations

from shared_code.adapters.postgres.pool import Conn, Row

COLUMNS = "course_id, user_id, source, created_at"


async def insert_enrollment(conn: Conn, course_id: str, user_id: str, source: str) -> Row | None:
    """The new row, or None when the user was already enrolled (the first row stands).

    An enrolment a refund ended comes back to life (with its progress) as a new one.
    """
    cur = await conn.execute(
        f"""INSERT INTO enrollments (course_id, user_id, source) VALUES (%s, %s, %s)
            ON CONFLICT (course_id, user_id) DO UPDATE
               SET status = 'active', source = EXCLUDED.source, created_at = now()
             WHERE enrollments.status <> 'active'
            RETURNING {COLUMNS}""",
        (course_id, user_id, source),
    )
    return await cur.fetchone()


async def get_enrollment(conn: Conn, course_id: str, user_id: str) -> Row | None:
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM enrollments WHERE course_id = %s AND user_id = %s", (course_id, user_id)
    )
    return await cur.fetchone()


async def is_enrolled(conn: Conn, course_id: str, user_id: str) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM enrollments WHERE course_id = %s AND user_id = %s AND status = 'active'", (course_id, user_id)
    )
    return await cur.fetchone() is not None


async def end_enrollment(conn: Conn, course_id: str, user_id: str) -> bool:
    """Marks an active enrolment refunded (the row and its progress stay); False when none was active."""
    cur = await conn.execute(
        """UPDATE enrollments SET status = 'refunded'
            WHERE course_id = %s AND user_id = %s AND status = 'active' RETURNING 1""",
        (course_id, user_id),
    )
    return await cur.fetchone() is not None



async def course_ids_of(conn: Conn, user_id: str, *, limit: int = 200) -> list[str]:
    """The courses a user is enrolled in (taken-down ones left out), newest enrolment first."""
    cur = await conn.execute(
        """SELECT e.course_id FROM enrollments e JOIN courses c ON c.id = e.course_id
            WHERE e.user_id = %s AND e.status = 'active' AND c.taken_down_at IS NULL
            ORDER BY e.created_at DESC LIMIT %s""",
        (user_id, limit),
    )
    return [str(r["course_id"]) for r in await cur.fetchall()]

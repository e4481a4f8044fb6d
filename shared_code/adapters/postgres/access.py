"""SQL for the access check: a course and the caller's enrolment in one round trip."""

from __future__ import annotations

from shared_code.adapters.postgres.pool import Conn, Row


async def course_with_enrolment(conn: Conn, course_id: str, user_id: str) -> Row | None:
    cur = await conn.execute(
        """SELECT c.id, c.owner_id, c.title, c.published, c.price_cents, c.taken_down_at,
                  EXISTS (SELECT 1 FROM enrollments e
                          WHERE e.course_id = c.id AND e.user_id = %s AND e.status = 'active') AS enrolled
             FROM courses c WHERE c.id = %s""",
        (user_id, course_id),
    )
    return await cur.fetchone()

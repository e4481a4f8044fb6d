"""SQL for `enrollments`: one row per (course, user), whatever the route in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one


@dataclass(frozen=True)
class EnrollmentRow:
    """An `enrollments` row as the enrolment routes return it."""

    course_id: uuid.UUID
    user_id: uuid.UUID
    source: str  # self, admin, payment
    created_at: datetime


@dataclass(frozen=True)
class PricedEnrollment(EnrollmentRow):
    """An active enrolment with its course's current price (a join: the list is written out
    in `lock_active_with_price`, and psycopg refuses a column the fields do not name)."""

    price_cents: int


@dataclass(frozen=True)
class EnrollmentListing:
    """One of a user's enrolments as their list shows it: computed from a join and counts,
    so not a table row; `id` is the course id."""

    id: uuid.UUID
    title: str
    enrolled_at: datetime
    status: str  # active, refunded, left
    lessons_total: int
    completed_lessons: int


COLUMNS = columns(EnrollmentRow)


async def insert_enrollment(conn: Conn, course_id: str, user_id: str, source: str) -> EnrollmentRow | None:
    """The new row, or None when the user was already enrolled (the first row stands).

    An enrolment a refund ended comes back to life (with its progress) as a new one.
    """
    return await fetch_one(
        conn, EnrollmentRow,
        f"""INSERT INTO enrollments (course_id, user_id, source) VALUES (%s, %s, %s)
            ON CONFLICT (course_id, user_id) DO UPDATE
               SET status = 'active', source = EXCLUDED.source, created_at = now()
             WHERE enrollments.status <> 'active'
            RETURNING {COLUMNS}""",
        (course_id, user_id, source),
    )


async def get_enrollment(conn: Conn, course_id: str, user_id: str) -> EnrollmentRow | None:
    return await fetch_one(
        conn, EnrollmentRow,
        f"SELECT {COLUMNS} FROM enrollments WHERE course_id = %s AND user_id = %s", (course_id, user_id),
    )


async def is_enrolled(conn: Conn, course_id: str, user_id: str) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM enrollments WHERE course_id = %s AND user_id = %s AND status = 'active'", (course_id, user_id)
    )
    return await cur.fetchone() is not None


async def end_enrollment(conn: Conn, course_id: str, user_id: str, *, status: str = "refunded") -> bool:
    """Ends an active enrolment, `refunded` or `left` (the row and its progress stay); False when none was active."""
    cur = await conn.execute(
        """UPDATE enrollments SET status = %s
            WHERE course_id = %s AND user_id = %s AND status = 'active' RETURNING 1""",
        (status, course_id, user_id),
    )
    return await cur.fetchone() is not None


async def lock_active_with_price(conn: Conn, course_id: str, user_id: str) -> PricedEnrollment | None:
    """The user's active enrolment with the course's current price, locked until the
    transaction ends; None when the user is not enrolled."""
    return await fetch_one(
        conn, PricedEnrollment,
        """SELECT e.course_id, e.user_id, e.source, e.created_at, c.price_cents
             FROM enrollments e JOIN courses c ON c.id = e.course_id
            WHERE e.course_id = %s AND e.user_id = %s AND e.status = 'active'
              FOR UPDATE OF e""",
        (course_id, user_id),
    )


async def page_of_user(
    conn: Conn, user_id: str, *, after: tuple[datetime, str] | None, limit: int
) -> list[EnrollmentListing]:
    """A user's enrolments, ended ones included, newest first (keyset on enrolled_at, course id),
    each with its course title and lesson and completion counts; `id` is the course id."""
    keyset = "AND (e.created_at, e.course_id) < (%(after_time)s, %(after_id)s)" if after else ""
    params: dict[str, Any] = {"user": user_id, "limit": limit}
    if after is not None:
        params["after_time"], params["after_id"] = after
    return await fetch_all(
        conn, EnrollmentListing,
        f"""SELECT e.course_id AS id, c.title, e.created_at AS enrolled_at, e.status,
                   (SELECT count(*) FROM lessons l WHERE l.course_id = e.course_id) AS lessons_total,
                   (SELECT count(*) FROM video_progress vp
                     WHERE vp.user_id = e.user_id AND vp.course_id = e.course_id AND vp.completed) AS completed_lessons
              FROM enrollments e JOIN courses c ON c.id = e.course_id
             WHERE e.user_id = %(user)s {keyset}
             ORDER BY e.created_at DESC, e.course_id DESC
             LIMIT %(limit)s""",  # noqa: S608 - fixed fragments only
        params,
    )


async def course_ids_of(conn: Conn, user_id: str, *, limit: int = 200) -> list[str]:
    """The courses a user is enrolled in (taken-down ones left out), newest enrolment first."""
    cur = await conn.execute(
        """SELECT e.course_id FROM enrollments e JOIN courses c ON c.id = e.course_id
            WHERE e.user_id = %s AND e.status = 'active' AND c.taken_down_at IS NULL
            ORDER BY e.created_at DESC LIMIT %s""",
        (user_id, limit),
    )
    return [str(r["course_id"]) for r in await cur.fetchall()]


async def active_student_ids(conn: Conn, course_id: str, *, after: str | None, limit: int) -> list[str]:
    """One batch of the course's active enrolments, by user id (keyset on the id)."""
    cur = await conn.execute(
        """SELECT user_id FROM enrollments
            WHERE course_id = %(course)s AND status = 'active' AND (%(after)s::uuid IS NULL OR user_id > %(after)s::uuid)
            ORDER BY user_id LIMIT %(limit)s""",
        {"course": course_id, "after": after, "limit": limit},
    )
    return [str(r["user_id"]) for r in await cur.fetchall()]

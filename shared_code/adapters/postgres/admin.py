"""SQL the admin app reads by: the user search and the platform analytics (one statement
per figure, each served by an index of migration 0058)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared_code.adapters.postgres.pool import Conn, Row


def _like(fragment: str) -> str:
    """A LIKE pattern matching `fragment` anywhere, its own wildcards taken literally."""
    escaped = fragment.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_users(
    conn: Conn, *, q: str | None, role: str | None, after: tuple[datetime, str] | None, limit: int
) -> list[Row]:
    """One page of users, newest first. `q` matches a part of the name or the email in any
    case (the trigram indexes on lower(name) and lower(email)); `role` one stored role."""
    clauses = ["TRUE"]
    params: dict[str, Any] = {"limit": limit}
    if q:
        clauses.append("(lower(name) LIKE %(q)s OR lower(email) LIKE %(q)s)")
        params["q"] = _like(q)
    if role:
        clauses.append("roles @> ARRAY[%(role)s]::text[]")
        params["role"] = role
    if after is not None:
        clauses.append("(created_at, id) < (%(after_time)s, %(after_id)s)")
        params["after_time"], params["after_id"] = after
    cur = await conn.execute(
        f"""SELECT id, name, email, roles, created_at FROM users WHERE {" AND ".join(clauses)}
             ORDER BY created_at DESC, id DESC LIMIT %(limit)s""",  # noqa: S608 - fixed fragments only
        params,
    )
    return await cur.fetchall()


# --- analytics: every statement takes the half-open range [start, end) ------------------
async def active_students_per_day(conn: Conn, start: datetime, end: datetime) -> list[Row]:
    """Distinct students per UTC day with watch progress (a progress row's last write) or a
    quiz attempt that day."""
    cur = await conn.execute(
        """SELECT day, count(DISTINCT user_id) AS n FROM (
               SELECT (updated_at AT TIME ZONE 'UTC')::date AS day, user_id FROM video_progress
                WHERE updated_at >= %(start)s AND updated_at < %(end)s
               UNION ALL
               SELECT (created_at AT TIME ZONE 'UTC')::date, user_id FROM quiz_attempts
                WHERE created_at >= %(start)s AND created_at < %(end)s
           ) activity GROUP BY day""",
        {"start": start, "end": end},
    )
    return await cur.fetchall()


async def enrollments_per_day(conn: Conn, start: datetime, end: datetime) -> list[Row]:
    cur = await conn.execute(
        """SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM enrollments
            WHERE created_at >= %(start)s AND created_at < %(end)s GROUP BY 1""",
        {"start": start, "end": end},
    )
    return await cur.fetchall()


async def revenue(conn: Conn, start: datetime, end: datetime) -> list[Row]:
    """Per provider and currency, the purchases paid in the range and what was refunded of them."""
    cur = await conn.execute(
        """SELECT provider, currency, count(*) AS purchases,
                  sum(amount_cents)::bigint AS gross_cents,
                  sum(LEAST(refunded_cents, amount_cents))::bigint AS refunded_cents,
                  COALESCE(sum(amount_cents - LEAST(refunded_cents, amount_cents))
                           FILTER (WHERE status = 'disputed'), 0)::bigint AS disputed_cents
             FROM purchases
            WHERE paid_at >= %(start)s AND paid_at < %(end)s AND status IN ('paid', 'refunded', 'disputed')
            GROUP BY provider, currency ORDER BY provider, currency""",
        {"start": start, "end": end},
    )
    return await cur.fetchall()


async def live_minutes_per_day(conn: Conn, start: datetime, end: datetime) -> list[Row]:
    """Classes that ended in the range after being started, and their minutes from start to end, per UTC day."""
    cur = await conn.execute(
        """SELECT (ended_at AT TIME ZONE 'UTC')::date AS day, count(*) AS classes,
                  sum(EXTRACT(EPOCH FROM (ended_at - started_at)) / 60.0)::float8 AS minutes
             FROM live_classes
            WHERE status = 'ended' AND ended_at >= %(start)s AND ended_at < %(end)s
              AND started_at IS NOT NULL AND ended_at >= started_at
            GROUP BY 1""",
        {"start": start, "end": end},
    )
    return await cur.fetchall()


async def top_courses(conn: Conn, start: datetime, end: datetime, limit: int) -> list[Row]:
    cur = await conn.execute(
        """SELECT c.id AS course_id, c.title, top.n AS enrollments, c.taken_down_at IS NOT NULL AS taken_down
             FROM (SELECT course_id, count(*) AS n FROM enrollments
                    WHERE created_at >= %(start)s AND created_at < %(end)s
                    GROUP BY course_id ORDER BY n DESC, course_id LIMIT %(limit)s) top
             JOIN courses c ON c.id = top.course_id
            ORDER BY top.n DESC, c.id""",
        {"start": start, "end": end, "limit": limit},
    )
    return await cur.fetchall()

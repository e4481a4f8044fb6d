"""SQL for a course's roster: one page of enrolled students with their figures, one query.

Each figure comes from the indexes the other reads already use (completions from
`video_progress_user_course_idx`, progress times from the primary key's user prefix,
attempts from `quiz_attempts_course_user_idx`, best scores from `quiz_best_course_user_idx`),
one lateral lookup per enrolled student inside the same statement. Sorting by progress or
activity has to see every enrolled student before it can cut a page; that is one pass of
index lookups, not a query per student.

The order is keyset: the sort key, then the user id in the same direction, so equal keys
never reorder between pages. A student without any activity sorts as the earliest time.
"""

from __future__ import annotations

from typing import Any, Literal

from shared_code.adapters.postgres.pool import Conn, Row

SortKey = Literal["name", "progress", "enrolledAt", "lastActivity"]

# The sort expressions over the `roster` rows below and the type a cursor's key is cast to;
# fixed fragments only, never a value from a request.
SORT_EXPRESSIONS: dict[str, tuple[str, str]] = {
    "name": ("r.name", "text"),
    "progress": ("r.completed_lessons", "bigint"),
    "enrolledAt": ("r.enrolled_at", "timestamptz"),
    "lastActivity": ("COALESCE(r.last_activity, '-infinity'::timestamptz)", "timestamptz"),
}

_ROSTER = """
WITH roster AS (
    SELECT e.user_id AS id, u.name, e.created_at AS enrolled_at,
           COALESCE(p.completed, 0) AS completed_lessons,
           GREATEST(p.last_progress, a.last_attempt) AS last_activity,
           b.average_score, COALESCE(b.attempted, 0) AS quizzes_attempted
      FROM enrollments e
      JOIN users u ON u.id = e.user_id
      LEFT JOIN LATERAL (
          SELECT count(*) FILTER (WHERE vp.completed) AS completed, max(vp.updated_at) AS last_progress
            FROM video_progress vp WHERE vp.user_id = e.user_id AND vp.course_id = e.course_id
      ) p ON TRUE
      LEFT JOIN LATERAL (
          SELECT max(qa.created_at) AS last_attempt
            FROM quiz_attempts qa WHERE qa.course_id = e.course_id AND qa.user_id = e.user_id
      ) a ON TRUE
      LEFT JOIN LATERAL (
          SELECT avg(100.0 * qb.best / NULLIF(q.max_score, 0)) AS average_score, count(*) AS attempted
            FROM quiz_best qb JOIN quizzes q ON q.id = qb.quiz_id
           WHERE qb.course_id = e.course_id AND qb.user_id = e.user_id
      ) b ON TRUE
     WHERE e.course_id = %(course)s AND e.status = 'active'
)
SELECT r.id, r.name, r.enrolled_at, r.completed_lessons, r.last_activity, r.average_score, r.quizzes_attempted,
       (SELECT count(*) FROM lessons WHERE course_id = %(course)s) AS total_lessons
  FROM roster r
"""


async def roster_page(
    conn: Conn, course_id: str, *, sort: SortKey, descending: bool, after: tuple[Any, str] | None, limit: int
) -> list[Row]:
    """`limit` rows after `after` (the previous page's last (sort key, user id)) in the order asked."""
    expression, cast = SORT_EXPRESSIONS[sort]
    direction = "DESC" if descending else "ASC"
    params: dict[str, Any] = {"course": course_id, "limit": limit}
    where = ""
    if after is not None:
        compare = "<" if descending else ">"
        where = f"WHERE ({expression}, r.id) {compare} (%(key)s::{cast}, %(after_id)s::uuid)"
        params["key"], params["after_id"] = after
    query = f"{_ROSTER} {where} ORDER BY {expression} {direction}, r.id {direction} LIMIT %(limit)s"
    cur = await conn.execute(query, params)  # noqa: S608 - fixed fragments only
    return await cur.fetchall()

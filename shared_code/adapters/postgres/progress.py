"""SQL for `video_progress` and the reads built on it (course progress, the dashboard).

Every write goes through `upsert_many`: one statement for any number of rows, merged so
that progress never moves backwards (GREATEST on watched time, completion is sticky,
position follows the newest heartbeat). Retries, duplicates and out-of-order writes are
therefore harmless, which is what lets the flush, offline sync and the write-through path
share it. The same statement keeps the per-lesson counters of `lesson_progress_stats`
(analytics) in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared_code.adapters.postgres.pool import Conn


@dataclass(frozen=True)
class ProgressWrite:
    user_id: str
    lesson_id: str
    position_seconds: float
    watched_seconds: float
    duration_seconds: float
    completed: bool
    heard_at_ms: int
    client_ms: int | None
    credit_seconds: float = 0.0  # the watch credit left after this write (domain/watch.py)


@dataclass
class ProgressColumns:
    """Rows to write, column by column, every value already in PostgreSQL's text form.

    The flush reads thousands of snapshots whose fields Redis already holds as text; kept
    as text they go into the statement as one comma-separated string per column, which
    PostgreSQL splits into an array. That skips building a Python object per value and
    quoting it per element, work that would otherwise hold the event loop (which also
    serves heartbeats) for tens of milliseconds per batch.
    """

    users: list[str] = field(default_factory=list)
    lessons: list[str] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    watched: list[str] = field(default_factory=list)
    durations: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)  # "1" / "0"
    client_ms: list[str] = field(default_factory=list)  # "" for none
    heard_ms: list[str] = field(default_factory=list)
    credits: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.users)

    @classmethod
    def of(cls, rows: Sequence[ProgressWrite]) -> ProgressColumns:
        return cls(
            users=[r.user_id for r in rows],
            lessons=[r.lesson_id for r in rows],
            positions=[repr(float(r.position_seconds)) for r in rows],
            watched=[repr(float(r.watched_seconds)) for r in rows],
            durations=[repr(float(r.duration_seconds)) for r in rows],
            completed=["1" if r.completed else "0" for r in rows],
            client_ms=["" if r.client_ms is None else str(int(r.client_ms)) for r in rows],
            heard_ms=[str(int(r.heard_at_ms)) for r in rows],
            credits=[repr(float(r.credit_seconds)) for r in rows],
        )


# The lessons/users joins drop rows whose lesson or user no longer exists, so one stale
# snapshot can never make a whole batch fail on a foreign key, and the course id comes
# from the lesson itself rather than from what the client or the snapshot said. The watch
# credit follows the newest heartbeat, like the position: it belongs to that moment.
_UPSERT = """
WITH incoming AS (
    SELECT s.user_id, s.lesson_id, l.course_id, s.position, s.watched, s.duration, s.completed,
           to_timestamp(s.client_ms / 1000.0) AS client_time, to_timestamp(s.heard_ms / 1000.0) AS heard_at,
           s.credit
      FROM unnest(string_to_array(%(users)s, ',')::uuid[], string_to_array(%(lessons)s, ',')::uuid[],
                  string_to_array(%(positions)s, ',')::float8[], string_to_array(%(watched)s, ',')::float8[],
                  string_to_array(%(durations)s, ',')::float8[], string_to_array(%(completed)s, ',')::bool[],
                  string_to_array(%(client_ms)s, ',', '')::float8[], string_to_array(%(heard_ms)s, ',')::float8[],
                  string_to_array(%(credits)s, ',', '')::float8[])
           AS s(user_id, lesson_id, position, watched, duration, completed, client_ms, heard_ms, credit)
      JOIN lessons l ON l.id = s.lesson_id
      JOIN users u ON u.id = s.user_id
), written AS (
    INSERT INTO video_progress AS v
           (user_id, lesson_id, course_id, position_seconds, watched_seconds, duration_seconds,
            completed, completed_at, client_time, updated_at, watch_credit_seconds)
    SELECT user_id, lesson_id, course_id, position, watched, duration,
           completed, CASE WHEN completed THEN now() END, client_time, heard_at, credit
      FROM incoming
     ORDER BY user_id, lesson_id  -- one lock order for every writer of these rows
    ON CONFLICT (user_id, lesson_id) DO UPDATE SET
        watched_seconds  = GREATEST(v.watched_seconds, EXCLUDED.watched_seconds),
        position_seconds = CASE WHEN EXCLUDED.updated_at >= v.updated_at
                                THEN EXCLUDED.position_seconds ELSE v.position_seconds END,
        duration_seconds = CASE WHEN EXCLUDED.updated_at >= v.updated_at
                                THEN EXCLUDED.duration_seconds ELSE v.duration_seconds END,
        watch_credit_seconds = CASE WHEN EXCLUDED.updated_at >= v.updated_at
                                    THEN EXCLUDED.watch_credit_seconds ELSE v.watch_credit_seconds END,
        completed        = v.completed OR EXCLUDED.completed,
        completed_at     = COALESCE(v.completed_at, EXCLUDED.completed_at),
        client_time      = GREATEST(v.client_time, EXCLUDED.client_time),
        updated_at       = GREATEST(v.updated_at, EXCLUDED.updated_at)
    RETURNING user_id, lesson_id, course_id, position_seconds, watched_seconds, duration_seconds,
              completed, completed_at, client_time, updated_at, watch_credit_seconds,
              (completed AND completed_at = now()) AS newly_completed,
              (xmax = 0) AS inserted
), counted AS (
    -- Lesson order is lock order: concurrent writers never wait on each other in a cycle.
    INSERT INTO lesson_progress_stats AS st (lesson_id, course_id, started, completed)
    SELECT lesson_id, course_id, count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE newly_completed)
      FROM written
     GROUP BY lesson_id, course_id
    HAVING count(*) FILTER (WHERE inserted OR newly_completed) > 0
     ORDER BY lesson_id
    ON CONFLICT (lesson_id) DO UPDATE SET
        started = st.started + EXCLUDED.started,
        completed = st.completed + EXCLUDED.completed
)
SELECT user_id, lesson_id, course_id, position_seconds, watched_seconds, duration_seconds,
       completed, completed_at, client_time, updated_at, watch_credit_seconds, newly_completed
  FROM written WHERE %(all)s OR newly_completed
"""


async def upsert_many(conn: Conn, rows: Sequence[ProgressWrite], *, return_all: bool = False) -> list[dict[str, Any]]:
    """Merges `rows` in one statement; returns the rows this call completed (or every row
    written, with `return_all`), each with `newly_completed`.

    `rows` must not hold two entries for the same (user, lesson).
    """
    return await upsert_columns(conn, ProgressColumns.of(rows), return_all=return_all)


async def upsert_columns(conn: Conn, columns: ProgressColumns, *, return_all: bool = False) -> list[dict[str, Any]]:
    """`upsert_many` for rows given column by column."""
    if not len(columns):
        return []
    cur = await conn.execute(
        _UPSERT,
        {
            "users": ",".join(columns.users),
            "lessons": ",".join(columns.lessons),
            "positions": ",".join(columns.positions),
            "watched": ",".join(columns.watched),
            "durations": ",".join(columns.durations),
            "completed": ",".join(columns.completed),
            "client_ms": ",".join(columns.client_ms),
            "heard_ms": ",".join(columns.heard_ms),
            "credits": ",".join(columns.credits),  # absent (older writers): NULL, no credit
            "all": return_all,
        },
    )
    return await cur.fetchall()


async def get_progress(conn: Conn, user_id: str, lesson_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        """SELECT user_id, lesson_id, course_id, position_seconds, watched_seconds, duration_seconds,
                  completed, completed_at, client_time, updated_at, watch_credit_seconds
             FROM video_progress WHERE user_id = %s AND lesson_id = %s""",
        (user_id, lesson_id),
    )
    return await cur.fetchone()


async def lock_progress(conn: Conn, user_id: str, lesson_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The caller's rows for these lessons, locked until the transaction ends, by lesson id."""
    cur = await conn.execute(
        """SELECT lesson_id, position_seconds, watched_seconds, duration_seconds, completed,
                  client_time, updated_at, watch_credit_seconds
             FROM video_progress WHERE user_id = %s AND lesson_id = ANY(%s::uuid[])
            ORDER BY lesson_id FOR UPDATE""",
        (user_id, list(lesson_ids)),
    )
    return {str(row["lesson_id"]): row for row in await cur.fetchall()}


async def enrolled_since(conn: Conn, user_id: str, course_ids: Sequence[str]) -> dict[str, datetime]:
    """When the student's current enrolment in each of these courses began, by course id:
    offline events from before it cannot be viewing of that course."""
    cur = await conn.execute(
        "SELECT course_id, created_at FROM enrollments WHERE user_id = %s AND course_id = ANY(%s::uuid[])",
        (user_id, list(course_ids)),
    )
    return {str(row["course_id"]): row["created_at"] for row in await cur.fetchall()}


async def course_progress(conn: Conn, user_id: str, course_id: str) -> tuple[int, int]:
    """(completed lessons, lessons) of one student in one course."""
    cur = await conn.execute(
        """SELECT (SELECT count(*) FROM video_progress
                    WHERE user_id = %(user)s AND course_id = %(course)s AND completed) AS completed,
                  (SELECT count(*) FROM lessons WHERE course_id = %(course)s) AS total""",
        {"user": user_id, "course": course_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["completed"]), int(row["total"])


# --- the dashboard ---------------------------------------------------------------------
async def enrolled_courses(conn: Conn, user_id: str, limit: int) -> list[dict[str, Any]]:
    """The student's courses, newest enrolment first, with lesson and completion counts."""
    cur = await conn.execute(
        """SELECT c.id, c.title, e.created_at AS enrolled_at,
                  (SELECT count(*) FROM lessons l WHERE l.course_id = c.id) AS total_lessons,
                  (SELECT count(*) FROM video_progress vp
                    WHERE vp.user_id = e.user_id AND vp.course_id = c.id AND vp.completed) AS completed_lessons
             FROM enrollments e JOIN courses c ON c.id = e.course_id
            WHERE e.user_id = %s AND e.status = 'active' AND c.taken_down_at IS NULL
            ORDER BY e.created_at DESC, c.id
            LIMIT %s""",
        (user_id, limit),
    )
    return await cur.fetchall()


async def recent_attempts(conn: Conn, user_id: str, course_ids: Sequence[str], per_course: int) -> list[dict[str, Any]]:
    """The student's latest attempts, at most `per_course` per course, newest first."""
    cur = await conn.execute(
        """SELECT course_id, quiz_id, title, attempt_id, score, max_score, created_at FROM (
               SELECT a.course_id, a.quiz_id, q.title, a.id AS attempt_id, a.score, a.max_score, a.created_at,
                      row_number() OVER (PARTITION BY a.course_id ORDER BY a.created_at DESC, a.id DESC) AS n
                 FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id
                WHERE a.user_id = %s AND a.course_id = ANY(%s::uuid[])
           ) recent
           WHERE n <= %s
           ORDER BY course_id, created_at DESC, attempt_id DESC""",
        (user_id, list(course_ids), per_course),
    )
    return await cur.fetchall()


async def upcoming_classes(conn: Conn, course_ids: Sequence[str], since_hours: int, per_course: int) -> list[dict[str, Any]]:
    """Scheduled or live classes of these courses that started at most `since_hours` ago."""
    cur = await conn.execute(
        """SELECT course_id, id, title, scheduled_at, status FROM (
               SELECT course_id, id, title, scheduled_at, status,
                      row_number() OVER (PARTITION BY course_id ORDER BY scheduled_at, id) AS n
                 FROM live_classes
                WHERE course_id = ANY(%s::uuid[]) AND status IN ('scheduled', 'live')
                  AND scheduled_at >= now() - make_interval(hours => %s)
           ) upcoming
           WHERE n <= %s
           ORDER BY course_id, scheduled_at, id""",
        (list(course_ids), since_hours, per_course),
    )
    return await cur.fetchall()

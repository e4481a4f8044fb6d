"""SQL behind course analytics: the completion funnel, score distributions, classes.

The funnel reads per-lesson counters that every progress write keeps
(`lesson_progress_stats`), so it costs one row per lesson however many students there
are. The score distribution aggregates each student's best attempt per quiz through an
index-only scan of quiz_attempts_course_user_idx, so its cost follows the course's
attempts, not the platform's.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

BUCKETS = 10


async def enrolled_students(conn: AsyncConnection, course_id: str) -> int:
    cur = await conn.execute("SELECT count(*) AS n FROM enrollments WHERE course_id = %s", (course_id,))
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def lesson_funnel(conn: AsyncConnection, course_id: str) -> list[dict[str, Any]]:
    """Every lesson in order with how many students started and completed it, from the
    counters the progress writes keep (one row per lesson, whatever the course's size)."""
    cur = await conn.execute(
        """SELECT l.id, l.title, l.kind, l.position,
                  COALESCE(s.started, 0) AS started, COALESCE(s.completed, 0) AS completed
             FROM lessons l
             LEFT JOIN lesson_progress_stats s ON s.lesson_id = l.id
            WHERE l.course_id = %s
            ORDER BY l.position, l.id""",
        (course_id,),
    )
    return await cur.fetchall()


async def lesson_funnel_counted(conn: AsyncConnection, course_id: str) -> list[dict[str, Any]]:
    """The same funnel counted from the progress rows themselves: the reference the
    counters are checked against (tests, benchmarks), too slow for every request."""
    cur = await conn.execute(
        """SELECT l.id, l.title, l.kind, l.position,
                  COALESCE(s.started, 0) AS started, COALESCE(s.completed, 0) AS completed
             FROM lessons l
             LEFT JOIN (SELECT lesson_id, count(*) AS started, count(*) FILTER (WHERE completed) AS completed
                          FROM video_progress WHERE course_id = %(course)s
                         GROUP BY lesson_id) s ON s.lesson_id = l.id
            WHERE l.course_id = %(course)s
            ORDER BY l.position, l.id""",
        {"course": course_id},
    )
    return await cur.fetchall()


async def recount_lesson_stats(conn: AsyncConnection, course_id: str) -> None:
    """Rebuilds one course's counters from its progress rows (after a bulk load, or to
    repair them); run it in a transaction with the course's progress writes quiet."""
    await conn.execute("DELETE FROM lesson_progress_stats WHERE course_id = %s", (course_id,))
    await conn.execute(
        """INSERT INTO lesson_progress_stats (lesson_id, course_id, started, completed)
           SELECT lesson_id, course_id, count(*), count(*) FILTER (WHERE completed)
             FROM video_progress WHERE course_id = %s
            GROUP BY lesson_id, course_id""",
        (course_id,),
    )


async def quizzes_of(conn: AsyncConnection, course_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, title, max_score FROM quizzes WHERE course_id = %s ORDER BY created_at, id", (course_id,)
    )
    return await cur.fetchall()


async def score_buckets(conn: AsyncConnection, course_id: str) -> list[dict[str, Any]]:
    """Per quiz and bucket (tenths of the maximum score; a full score falls in the last), how
    many students' best attempt lands there."""
    cur = await conn.execute(
        f"""SELECT b.quiz_id,
                   CASE WHEN q.max_score <= 0 THEN {BUCKETS - 1}
                        ELSE LEAST({BUCKETS - 1}, (b.best * {BUCKETS}) / q.max_score) END AS bucket,
                   count(*) AS students
              FROM (SELECT user_id, quiz_id, max(score) AS best
                      FROM quiz_attempts WHERE course_id = %s
                     GROUP BY user_id, quiz_id) b
              JOIN quizzes q ON q.id = b.quiz_id
             GROUP BY b.quiz_id, bucket""",
        (course_id,),
    )
    return await cur.fetchall()


async def classes_of(conn: AsyncConnection, course_id: str, limit: int) -> list[dict[str, Any]]:
    """The course's most recent classes (by schedule), newest first."""
    cur = await conn.execute(
        """SELECT id, title, scheduled_at, status FROM live_classes
            WHERE course_id = %s ORDER BY scheduled_at DESC, id LIMIT %s""",
        (course_id, limit),
    )
    return await cur.fetchall()

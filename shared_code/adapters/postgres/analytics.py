"""SQL behind course analytics: the completion funnel, score distributions, classes.

The funnel reads per-lesson counters that every progress write keeps
(`lesson_progress_stats`), so it costs one row per lesson however many students there
are. The score distribution counts each student's best score per quiz from `quiz_best` (kept
by every attempt), through an index that is already in (course, quiz, score) order.
"""

from __future__ import annotations

from typing import Any

from shared_code.adapters.postgres.pool import Conn


async def enrolled_students(conn: Conn, course_id: str) -> int:
    cur = await conn.execute("SELECT count(*) AS n FROM enrollments WHERE course_id = %s AND status = 'active'", (course_id,))
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def lesson_funnel(conn: Conn, course_id: str) -> list[dict[str, Any]]:
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


async def lesson_funnel_counted(conn: Conn, course_id: str) -> list[dict[str, Any]]:
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


async def recount_lesson_stats(conn: Conn, course_id: str) -> None:
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


async def quizzes_of(conn: Conn, course_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, title, max_score FROM quizzes WHERE course_id = %s ORDER BY created_at, id", (course_id,)
    )
    return await cur.fetchall()


async def score_counts(conn: Conn, course_id: str) -> list[dict[str, Any]]:
    """Per quiz of the course and best score, how many students have that best: an
    index-only scan of quiz_best_course_quiz_best_idx, already in group order. Scores are
    whole points, so there are few groups per quiz; `distribution` buckets them."""
    cur = await conn.execute(
        """SELECT quiz_id, best, count(*) AS students
             FROM quiz_best WHERE course_id = %s
            GROUP BY quiz_id, best""",
        (course_id,),
    )
    return await cur.fetchall()


async def classes_of(conn: Conn, course_id: str, limit: int, upcoming: int) -> list[dict[str, Any]]:
    """The course's `limit` most recent classes that were due (started, ended, or scheduled
    for a time already past) and its next `upcoming` ones, newest first. Taken apart so a
    term of classes scheduled ahead does not crowd out the ones that were held."""
    cur = await conn.execute(
        """SELECT * FROM (
               (SELECT id, title, scheduled_at, status FROM live_classes
                 WHERE course_id = %(course)s AND (status <> 'scheduled' OR scheduled_at <= now())
                 ORDER BY scheduled_at DESC, id LIMIT %(limit)s)
               UNION ALL
               (SELECT id, title, scheduled_at, status FROM live_classes
                 WHERE course_id = %(course)s AND status = 'scheduled' AND scheduled_at > now()
                 ORDER BY scheduled_at, id LIMIT %(upcoming)s)
           ) due ORDER BY scheduled_at DESC, id""",
        {"course": course_id, "limit": limit, "upcoming": upcoming},
    )
    return await cur.fetchall()

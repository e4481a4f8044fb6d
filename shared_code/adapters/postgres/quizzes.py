"""SQL for `quizzes`, `quiz_attempts` and `quiz_best` (each student's best score per quiz,
which leaderboards and score distributions start from)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one


@dataclass(frozen=True)
class QuizRow:
    """A `quizzes` row; its fields are the columns every quiz query here selects."""

    id: uuid.UUID
    course_id: uuid.UUID
    lesson_id: uuid.UUID
    title: str
    questions: list[dict[str, Any]]  # prompt, options, multiple, points, correct (the answer key)
    max_score: int
    max_attempts: int
    pass_mark_percent: int
    created_at: datetime


@dataclass(frozen=True)
class StoredAttempt:
    """What a new `quiz_attempts` row gives back: the rest is what was written."""

    id: uuid.UUID
    attempt_no: int
    created_at: datetime


COLUMNS = columns(QuizRow)


async def insert_quiz(
    conn: Conn,
    *,
    quiz_id: str,
    course_id: str,
    lesson_id: str,
    title: str,
    questions: list[dict[str, Any]],
    max_score: int,
    max_attempts: int,
    pass_mark_percent: int,
) -> QuizRow:
    row = await fetch_one(
        conn, QuizRow,
        f"""INSERT INTO quizzes (id, course_id, lesson_id, title, questions, max_score, max_attempts, pass_mark_percent)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}""",
        (quiz_id, course_id, lesson_id, title, Jsonb(questions), max_score, max_attempts, pass_mark_percent),
    )
    assert row is not None
    return row


async def get_quiz(conn: Conn, quiz_id: str) -> QuizRow | None:
    return await fetch_one(conn, QuizRow, f"SELECT {COLUMNS} FROM quizzes WHERE id = %s", (quiz_id,))


async def quizzes_of_lesson(conn: Conn, lesson_id: str) -> list[QuizRow]:
    """The lesson's quizzes, oldest first (a quiz lesson completes when each is passed)."""
    return await fetch_all(
        conn, QuizRow, f"SELECT {COLUMNS} FROM quizzes WHERE lesson_id = %s ORDER BY created_at, id", (lesson_id,)
    )


async def count_attempts(conn: Conn, quiz_id: str, user_id: str) -> int:
    cur = await conn.execute(
        "SELECT count(*) AS n FROM quiz_attempts WHERE quiz_id = %s AND user_id = %s", (quiz_id, user_id)
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def insert_attempt(
    conn: Conn,
    *,
    attempt_id: str,
    quiz_id: str,
    course_id: str,
    user_id: str,
    attempt_no: int,
    answers: list[list[int]],
    score: int,
    max_score: int,
    per_question: list[dict[str, Any]],
) -> StoredAttempt:
    row = await fetch_one(
        conn, StoredAttempt,
        f"""INSERT INTO quiz_attempts (id, quiz_id, course_id, user_id, attempt_no, answers, score, max_score, per_question)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
           RETURNING {columns(StoredAttempt)}""",
        (attempt_id, quiz_id, course_id, user_id, attempt_no, Jsonb(answers), score, max_score, Jsonb(per_question)),
    )
    assert row is not None
    return row


# --- leaderboard -----------------------------------------------------------------------
# Sums, ranks and counts over `quiz_best` joined with `users`: computed rows, not a table's,
# so they stay dicts.
async def best_scores(conn: Conn, course_id: str) -> list[dict[str, Any]]:
    """Every student's best score per quiz of the course, with their name."""
    cur = await conn.execute(
        """SELECT b.user_id, u.name, b.quiz_id, b.best
             FROM quiz_best b JOIN users u ON u.id = b.user_id
            WHERE b.course_id = %s""",
        (course_id,),
    )
    return await cur.fetchall()


_TOTALS = """
WITH totals AS (
    SELECT user_id, sum(best)::bigint AS points FROM quiz_best WHERE course_id = %(course)s GROUP BY user_id
)
"""


async def top_points(conn: Conn, course_id: str, limit: int) -> list[dict[str, Any]]:
    """The top `limit` by points with competition ranks, ties in the order Redis uses
    (user id descending), for when the Redis board is unavailable."""
    cur = await conn.execute(
        _TOTALS
        + """SELECT t.user_id, u.name, t.points, rank() OVER (ORDER BY t.points DESC) AS rank
               FROM totals t JOIN users u ON u.id = t.user_id
              ORDER BY t.points DESC, t.user_id::text COLLATE "C" DESC
              LIMIT %(limit)s""",
        {"course": course_id, "limit": limit},
    )
    return await cur.fetchall()


async def standing(conn: Conn, course_id: str, user_id: str) -> dict[str, Any]:
    """One user's points (0 without attempts), how many have more, and how many take part."""
    cur = await conn.execute(
        _TOTALS
        + """, mine AS (SELECT COALESCE((SELECT points FROM totals WHERE user_id = %(user)s), 0) AS points)
             SELECT mine.points,
                    (SELECT count(*) FROM totals WHERE totals.points > mine.points) AS ahead,
                    (SELECT count(*) FROM totals) AS participants,
                    EXISTS (SELECT 1 FROM totals WHERE user_id = %(user)s) AS takes_part
               FROM mine""",
        {"course": course_id, "user": user_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return row


# --- tutor edits (services/progress/quiz_edits.py) ------------------------------------
async def lock_quiz(conn: Conn, quiz_id: str) -> QuizRow | None:
    """The quiz row, locked against attempts (which read it `FOR KEY SHARE`) until the
    transaction ends, so an edit and an attempt at the same quiz run one after the other."""
    return await fetch_one(conn, QuizRow, f"SELECT {COLUMNS} FROM quizzes WHERE id = %s FOR UPDATE", (quiz_id,))


async def questions_for_attempt(conn: Conn, quiz_id: str) -> list[dict[str, Any]] | None:
    """The questions as they stand, inside an attempt's transaction; None when the quiz is
    gone. `FOR KEY SHARE` waits for an edit or a delete in flight (`lock_quiz`) and lets
    attempts run side by side."""
    cur = await conn.execute("SELECT questions FROM quizzes WHERE id = %s FOR KEY SHARE", (quiz_id,))
    row = await cur.fetchone()
    return None if row is None else list(row["questions"])


async def quiz_attempt_counts(conn: Conn, quiz_id: str) -> dict[str, int]:
    """How many attempts the quiz has and how many students made them (their best scores)."""
    cur = await conn.execute(
        """SELECT (SELECT count(*) FROM quiz_attempts WHERE quiz_id = %(quiz)s) AS attempts,
                  (SELECT count(*) FROM quiz_best WHERE quiz_id = %(quiz)s) AS students""",
        {"quiz": quiz_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return {"attempts": int(row["attempts"]), "students": int(row["students"])}


async def update_quiz(
    conn: Conn,
    quiz_id: str,
    *,
    title: str,
    questions: list[dict[str, Any]],
    max_score: int,
    max_attempts: int,
    pass_mark_percent: int,
) -> QuizRow:
    row = await fetch_one(
        conn, QuizRow,
        f"""UPDATE quizzes SET title = %s, questions = %s, max_score = %s, max_attempts = %s, pass_mark_percent = %s
             WHERE id = %s RETURNING {COLUMNS}""",
        (title, Jsonb(questions), max_score, max_attempts, pass_mark_percent, quiz_id),
    )
    assert row is not None
    return row


async def takers(conn: Conn, quiz_id: str) -> list[str]:
    """The students with a best score on the quiz (whose dashboards show its attempts)."""
    cur = await conn.execute("SELECT user_id FROM quiz_best WHERE quiz_id = %s ORDER BY user_id", (quiz_id,))
    return [str(r["user_id"]) for r in await cur.fetchall()]


async def delete_quiz(conn: Conn, quiz_id: str) -> QuizRow | None:
    """Deletes the quiz; its attempts and best scores go with it (foreign keys cascade)."""
    return await fetch_one(conn, QuizRow, f"DELETE FROM quizzes WHERE id = %s RETURNING {COLUMNS}", (quiz_id,))


async def newly_passing(conn: Conn, quiz_id: str, lesson_id: str) -> list[str]:
    """Actively enrolled students who took this quiz, whose best now reaches the pass mark
    on every quiz of its quiz lesson (the rule of `_STORE_ATTEMPT`'s `lesson`) and who have not
    completed that lesson yet."""
    cur = await conn.execute(
        """SELECT b.user_id
             FROM quiz_best b
             JOIN lessons l ON l.id = %(lesson)s AND l.kind = 'quiz'
             JOIN enrollments e ON e.course_id = l.course_id AND e.user_id = b.user_id AND e.status = 'active'
            WHERE b.quiz_id = %(quiz)s
              AND NOT EXISTS (
                  SELECT 1 FROM quizzes q
                    LEFT JOIN quiz_best o ON o.quiz_id = q.id AND o.user_id = b.user_id
                   WHERE q.lesson_id = l.id
                     AND (o.best IS NULL OR o.best * 100 < q.pass_mark_percent * q.max_score))
              AND NOT EXISTS (
                  SELECT 1 FROM video_progress vp
                   WHERE vp.user_id = b.user_id AND vp.lesson_id = l.id AND vp.completed)
            ORDER BY b.user_id""",
        {"quiz": quiz_id, "lesson": lesson_id},
    )
    return [str(r["user_id"]) for r in await cur.fetchall()]


async def first_quiz_of_lesson(conn: Conn, lesson_id: str) -> str | None:
    """Any one quiz of the lesson (the oldest), or None when it has none left."""
    cur = await conn.execute(
        "SELECT id FROM quizzes WHERE lesson_id = %s ORDER BY created_at, id LIMIT 1", (lesson_id,)
    )
    row = await cur.fetchone()
    return None if row is None else str(row["id"])

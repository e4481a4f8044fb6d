"""SQL for `quizzes`, `quiz_attempts` and `quiz_best` (each student's best score per quiz,
which leaderboards and score distributions start from)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.errors import UniqueViolation
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


@dataclass(frozen=True)
class AnswerKey:
    """A quiz row with its version: the row's `xmin`, which every update of the row changes
    (a new tuple) and nothing else does (row locks leave it). An attempt graded against a
    kept copy names that version, and its statement writes only while it still holds."""

    quiz: QuizRow
    version: str


async def answer_key(conn: Conn, quiz_id: str) -> AnswerKey | None:
    cur = await conn.execute(f"SELECT {COLUMNS}, xmin::text AS version FROM quizzes WHERE id = %s", (quiz_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    version = row.pop("version")
    return AnswerKey(QuizRow(**row), version)


class KeyRace(Exception):
    """Another request with the same `Idempotency-Key` committed while this one ran: ask
    again, and the statement answers with that request's stored response."""


@dataclass(frozen=True)
class AttemptWrite:
    """Everything one attempt's statement writes, graded before it runs."""

    attempt_id: str
    quiz_id: str
    version: str  # the `AnswerKey.version` it was graded against
    course_id: str
    lesson_id: str
    user_id: str
    answers: list[list[int]]
    score: int
    max_score: int
    per_question: list[dict[str, Any]]
    created_at: datetime
    scope: str  # the idempotency key's
    key: str
    request_hash: str
    response: dict[str, Any]  # the 201 body without its `attemptNo`, which the statement decides


@dataclass(frozen=True)
class AttemptStored:
    """What the statement did: nothing (the quiz changed or is gone: `max_attempts` None;
    the key was used before: `replay_hash` set; every attempt used: `attempt_no` None), or
    stored attempt `attempt_no`. `prior_*` are the student's counters as the statement's
    snapshot saw them; `lesson_due` says the quiz lesson now passes and is not completed."""

    max_attempts: int | None
    replay_hash: str | None
    replay_status: int | None
    replay_response: Any
    attempt_no: int | None
    prior_attempts: int | None
    prior_best: int | None
    lesson_due: bool


# One statement, so one round trip and, run outside a transaction, its own transaction:
# - `quiz` holds the quiz row (`FOR KEY SHARE`, as in `questions_for_attempt`) only at the
#   version the attempt was graded against: an edit in flight makes it wait, and a newer or
#   deleted row leaves it empty, so nothing below writes;
# - `replay` is the key's stored answer, when the key was used before: nothing is written;
# - `counted` is the attempt cap: the upsert of the student's `quiz_best` row locks it, and
#   `ON CONFLICT DO UPDATE` judges the newest committed row, so concurrent attempts by one
#   student count one after the other and the one past `max_attempts` writes nothing;
# - `attempt` and `remembered` store the attempt and the key's answer with its number;
# - `lesson` is the rule of `lesson_passed` with this attempt's best.
# Data-modifying CTEs all run, all or nothing; a concurrent request that stored the same key
# first makes `remembered` fail on the key (`KeyRace`), which undoes the rest.
_STORE_ATTEMPT = """
WITH quiz AS (
    SELECT id, max_attempts FROM quizzes WHERE id = %(quiz)s AND xmin = %(version)s::xid FOR KEY SHARE
), replay AS (
    SELECT request_hash, status_code, response FROM idempotency_keys
     WHERE user_id = %(user)s AND scope = %(scope)s AND key = %(key)s
), prior AS (
    SELECT attempts, best FROM quiz_best WHERE quiz_id = %(quiz)s AND user_id = %(user)s
), counted AS (
    INSERT INTO quiz_best AS b (quiz_id, user_id, course_id, best)
    SELECT id, %(user)s, %(course)s, %(score)s FROM quiz WHERE NOT EXISTS (SELECT 1 FROM replay)
    ON CONFLICT (quiz_id, user_id) DO UPDATE SET
        best = GREATEST(b.best, EXCLUDED.best), attempts = b.attempts + 1, updated_at = now()
     WHERE b.attempts < (SELECT max_attempts FROM quiz)
    RETURNING b.attempts, b.best
), attempt AS (
    INSERT INTO quiz_attempts (id, quiz_id, course_id, user_id, attempt_no, answers, score, max_score, per_question,
                               created_at)
    SELECT %(attempt)s, %(quiz)s, %(course)s, %(user)s, attempts, %(answers)s, %(score)s, %(max_score)s,
           %(per_question)s, %(at)s
      FROM counted
    RETURNING attempt_no
), remembered AS (
    INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status_code, response)
    SELECT %(user)s, %(scope)s, %(key)s, %(hash)s, 201, %(response)s::jsonb || jsonb_build_object('attemptNo', attempt_no)
      FROM attempt
    RETURNING 1
), lesson AS (
    SELECT count(*) > 0 AND bool_and(s.best IS NOT NULL AND s.best * 100 >= s.pass_mark_percent * s.max_score) AS passed
      FROM (SELECT CASE WHEN q.id = %(quiz)s THEN (SELECT best FROM counted) ELSE b.best END AS best,
                   q.pass_mark_percent, q.max_score
              FROM lessons l
              JOIN quizzes q ON q.lesson_id = l.id
              LEFT JOIN quiz_best b ON b.quiz_id = q.id AND b.user_id = %(user)s
             WHERE l.id = %(lesson)s AND l.kind = 'quiz' AND EXISTS (SELECT 1 FROM counted)) s
)
SELECT (SELECT max_attempts FROM quiz) AS max_attempts,
       r.request_hash AS replay_hash, r.status_code AS replay_status, r.response AS replay_response,
       (SELECT attempt_no FROM attempt) AS attempt_no,
       (SELECT attempts FROM prior) AS prior_attempts,
       (SELECT best FROM prior) AS prior_best,
       COALESCE((SELECT passed FROM lesson), false)
         AND (SELECT count(*) FROM remembered) = 1
         AND NOT EXISTS (SELECT 1 FROM video_progress vp
                          WHERE vp.user_id = %(user)s AND vp.lesson_id = %(lesson)s AND vp.completed) AS lesson_due
  FROM (SELECT 1) one LEFT JOIN replay r ON true
"""


async def store_attempt(conn: Conn, write: AttemptWrite) -> AttemptStored:
    """Stores a graded attempt with its idempotency key's answer in one statement (see
    `_STORE_ATTEMPT`); on a connection outside a transaction that statement is the whole
    transaction. Raises `KeyRace` when a concurrent request committed the same key first."""
    params = {
        "quiz": write.quiz_id, "version": write.version, "user": write.user_id, "course": write.course_id,
        "lesson": write.lesson_id, "scope": write.scope, "key": write.key, "hash": write.request_hash,
        "attempt": write.attempt_id, "answers": Jsonb(write.answers), "score": write.score,
        "max_score": write.max_score, "per_question": Jsonb(write.per_question), "at": write.created_at,
        "response": Jsonb(write.response),
    }
    try:
        row = await fetch_one(conn, AttemptStored, _STORE_ATTEMPT, params)
    except UniqueViolation as exc:
        if exc.diag.constraint_name == "idempotency_keys_pkey":
            raise KeyRace() from exc
        raise
    assert row is not None
    return row


async def best_before(conn: Conn, quiz_id: str, user_id: str, attempt_no: int) -> int | None:
    """The student's best score over the attempts before `attempt_no` (all committed once
    that attempt is)."""
    cur = await conn.execute(
        "SELECT max(score) AS best FROM quiz_attempts WHERE quiz_id = %s AND user_id = %s AND attempt_no < %s",
        (quiz_id, user_id, attempt_no),
    )
    row = await cur.fetchone()
    return None if row is None or row["best"] is None else int(row["best"])


async def stored_key(conn: Conn, user_id: str, scope: str, key: str) -> tuple[str, int | None, Any] | None:
    """The key's stored (request hash, status, answer), for an attempt refused at the cap
    whose key a concurrent request may have stored."""
    cur = await conn.execute(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE user_id = %s AND scope = %s AND key = %s",
        (user_id, scope, key),
    )
    row = await cur.fetchone()
    return None if row is None else (row["request_hash"], row["status_code"], row["response"])


async def count_attempts(conn: Conn, quiz_id: str, user_id: str) -> int:
    cur = await conn.execute(
        "SELECT count(*) AS n FROM quiz_attempts WHERE quiz_id = %s AND user_id = %s", (quiz_id, user_id)
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def best_score(conn: Conn, quiz_id: str, user_id: str) -> int | None:
    cur = await conn.execute("SELECT best FROM quiz_best WHERE quiz_id = %s AND user_id = %s", (quiz_id, user_id))
    row = await cur.fetchone()
    return None if row is None else int(row["best"])


async def record_best(conn: Conn, *, quiz_id: str, user_id: str, course_id: str, score: int) -> None:
    """Keeps the student's best score for the quiz (in the attempt's transaction)."""
    await conn.execute(
        """INSERT INTO quiz_best AS b (quiz_id, user_id, course_id, best) VALUES (%s, %s, %s, %s)
           ON CONFLICT (quiz_id, user_id) DO UPDATE SET
               best = GREATEST(b.best, EXCLUDED.best), attempts = b.attempts + 1, updated_at = now()""",
        (quiz_id, user_id, course_id, score),
    )


async def lesson_passed(conn: Conn, lesson_id: str, user_id: str) -> bool:
    """Whether the student's best score reaches the pass mark on every quiz of a quiz lesson
    (false for a lesson of another kind, or one without quizzes). Integer arithmetic: a
    score exactly at the mark passes, with no rounding at the boundary."""
    cur = await conn.execute(
        """SELECT count(*) > 0 AND bool_and(b.best IS NOT NULL AND b.best * 100 >= q.pass_mark_percent * q.max_score)
                  AS passed
             FROM lessons l
             JOIN quizzes q ON q.lesson_id = l.id
             LEFT JOIN quiz_best b ON b.quiz_id = q.id AND b.user_id = %s
            WHERE l.id = %s AND l.kind = 'quiz'""",
        (user_id, lesson_id),
    )
    row = await cur.fetchone()
    return bool(row and row["passed"])


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
    on every quiz of its quiz lesson (the rule of `lesson_passed`) and who have not
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

"""SQL for storing a quiz attempt: the quiz as attempts grade against it (with its row
version) and the one statement that stores an attempt with its `Idempotency-Key`'s answer
(`quiz_attempts`, `quiz_best`, `idempotency_keys`, the student's notification and the
parked effects together, so they commit together)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.quizzes import COLUMNS, QuizRow
from shared_code.adapters.postgres.rows import fetch_one
from shared_code.domain.notifications import Draft


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
    # The effects that follow a stored attempt (`quiz_effects.py`), parked with it as one
    # `pending_effects` row (id = the attempt's) due `effect_grace_seconds` later: its request
    # runs them and removes the row; if the process dies first, the drain timer runs them.
    effect_kind: str
    effect: dict[str, Any]  # without its `attemptNo` and `notificationId`, added by the statement
    effect_grace_seconds: int
    # The student's `quiz.graded` notification, written by the same statement (its push is
    # one of the parked effects).
    notification: Draft


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
    notification_id: str | None  # the notification row it wrote


# One statement, so one round trip and, run outside a transaction, its own transaction:
# - `quiz` holds the quiz row (`FOR KEY SHARE`, as in `questions_for_attempt`) only at the
#   version the attempt was graded against: an edit in flight makes it wait, and a newer or
#   deleted row leaves it empty, so nothing below writes;
# - `replay` is the key's stored answer, when the key was used before: nothing is written;
# - `counted` is the attempt cap: the upsert of the student's `quiz_best` row locks it, and
#   `ON CONFLICT DO UPDATE` judges the newest committed row, so concurrent attempts by one
#   student count one after the other and the one past `max_attempts` writes nothing;
# - `attempt` and `remembered` store the attempt and the key's answer with its number;
# - `notified` writes the student's notification of the attempt (`AttemptWrite.notification`);
# - `parked` parks the effects that follow the attempt (`AttemptWrite.effect`) with it;
# - `lesson` is the rule a quiz lesson completes by, with this attempt's best: the student's
#   best reaches the pass mark on every quiz of the lesson (integer arithmetic: a score
#   exactly at the mark passes, with no rounding at the boundary).
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
), notified AS (
    INSERT INTO notifications (user_id, kind, title, body, data, dedupe_key, created_at)
    SELECT %(user)s, %(n_kind)s, %(n_title)s, %(n_body)s, %(n_data)s, %(n_key)s, %(at)s FROM attempt
    ON CONFLICT (user_id, dedupe_key) DO NOTHING
    RETURNING id
), parked AS (
    INSERT INTO pending_effects (id, kind, payload, reason, next_at)
    SELECT %(attempt)s, %(effect_kind)s,
           %(effect)s::jsonb || jsonb_build_object('attemptNo', attempt_no,
                                                   'notificationId', (SELECT id::text FROM notified)),
           'runs after its attempt', now() + make_interval(secs => %(grace)s)
      FROM attempt
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
                          WHERE vp.user_id = %(user)s AND vp.lesson_id = %(lesson)s AND vp.completed) AS lesson_due,
       (SELECT id::text FROM notified) AS notification_id
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
        "response": Jsonb(write.response), "effect_kind": write.effect_kind, "effect": Jsonb(write.effect),
        "grace": write.effect_grace_seconds, "n_kind": write.notification.kind, "n_title": write.notification.title,
        "n_body": write.notification.body, "n_data": Jsonb(write.notification.data), "n_key": write.notification.key,
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


async def attempt_exists(conn: Conn, attempt_id: str) -> bool:
    """Whether the attempt is still stored (deleting its quiz deletes it)."""
    cur = await conn.execute("SELECT 1 FROM quiz_attempts WHERE id = %s", (attempt_id,))
    return await cur.fetchone() is not None


async def stored_key(conn: Conn, user_id: str, scope: str, key: str) -> tuple[str, int | None, Any] | None:
    """The key's stored (request hash, status, answer), for an attempt refused at the cap
    whose key a concurrent request may have stored."""
    cur = await conn.execute(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE user_id = %s AND scope = %s AND key = %s",
        (user_id, scope, key),
    )
    row = await cur.fetchone()
    return None if row is None else (row["request_hash"], row["status_code"], row["response"])

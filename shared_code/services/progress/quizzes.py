"""Quizzes: written by the course's tutor, answered by enrolled students, graded by the
rules in `domain/quizzes.py` (exact-set, no partial credit).

Answer keys never leave the server except back to the tutor who wrote them.

An attempt is stored with its answers and its `Idempotency-Key` in one transaction, so a
client retrying after a lost response gets the same attempt back (201, same id) and never
a second one; the same key with other answers is a 409. Each student has at most the
quiz's `maxAttempts`; the next one is a 422.

A submit is graded in memory against this process's copy of the quiz (`answer_key`, kept
on the context with the row's version) and stored by one statement
(`adapters/postgres/quizzes.py` `store_attempt`): the key's stored answer, the attempt
counted on the student's `quiz_best` row (its row lock keeps the limit exact however many
submits arrive at once), the attempt, and the key's answer, written only while the copy's
version is still the quiz's. Before answering, the leaderboard and the dashboard move, so
what the student reads next shows the attempt; the `quiz.graded` push, the change-log row
(with the attempt's move on the leaderboard) and the notification follow off the request's
path, each run or queued for retry by the outbox.

A quiz lesson completes when the student's best score reaches the pass mark
(`passMarkPercent` of the max score) on its quiz (on every quiz, should it have several).
For a passing score the statement and the completion run in one transaction, so a passing
attempt is never stored without its completion; a failing one completes nothing, and a
later failing attempt never undoes a pass (completion is sticky).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared_code.adapters.postgres import quizzes as quizzes_sql
from shared_code.adapters.postgres import quizzes_attempts as attempts_sql
from shared_code.adapters.postgres.idempotency import StoredKey
from shared_code.adapters.postgres.quizzes import QuizRow
from shared_code.adapters.postgres.quizzes_attempts import AnswerKey, AttemptStored, KeyRace
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.quizzes import answer_errors, grade, question_errors, stored_questions
from shared_code.errors import Conflict, Forbidden, Invalid, NotFound
from shared_code.models.progress import (
    AttemptCreate,
    AttemptResult,
    LessonQuizzes,
    Question,
    QuestionResult,
    QuestionWithKey,
    Quiz,
    QuizBase,
    QuizCreate,
    QuizWithKeys,
)
from shared_code.platform import access as access_service
from shared_code.platform import audit, idempotency
from shared_code.platform.access import CourseAccess
from shared_code.services.progress import completion, quiz_effects, quiz_keys
from shared_code.services.progress.quiz_effects import Completed

logger = logging.getLogger("lectern.quizzes")


# --- mapping to the wire ------------------------------------------------------------
def _public(questions: Sequence[dict[str, Any]]) -> list[Question]:
    return [
        Question(index=i, prompt=q["prompt"], options=q["options"], multiple=q["multiple"], points=q["points"])
        for i, q in enumerate(questions)
    ]


# The columns a quiz row and both of its wire shapes (with and without keys) share.
_QUIZ_FIELDS = ("id", "course_id", "lesson_id", "title", "max_score", "max_attempts", "pass_mark_percent", "created_at")


def _quiz_fields(row: QuizRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _QUIZ_FIELDS}


def with_keys(row: QuizRow) -> QuizWithKeys:
    return QuizWithKeys(
        **_quiz_fields(row),
        questions=[
            QuestionWithKey(
                index=i,
                prompt=q["prompt"],
                options=q["options"],
                multiple=q["multiple"],
                points=q["points"],
                correct=q["correct"],
            )
            for i, q in enumerate(row.questions)
        ],
    )


def audited_quiz(row: QuizRow) -> dict[str, Any]:
    """What an audit row records of a quiz: its settings and questions with their keys
    (the trail is admins' only, and a changed key is exactly what it must show)."""
    return {
        "title": row.title,
        "maxScore": row.max_score,
        "maxAttempts": row.max_attempts,
        "passMarkPercent": row.pass_mark_percent,
        "questions": [
            {"prompt": q["prompt"], "options": q["options"], "correct": q["correct"], "points": q["points"]}
            for q in row.questions
        ],
    }


# --- operations ------------------------------------------------------------------------
# The refusals of the relations the endpoints declare (`functions/progress.py`), also given
# here to callers that reach the service without HTTP.
AUTHORS_ONLY = "Only the course's tutor and admins add quizzes."
TAKERS_ONLY = "Only students enrolled in this course may do this."


async def create_quiz(
    ctx: AppContext,
    principal: Principal,
    body: QuizCreate,
    *,
    found: tuple[dict[str, Any], CourseAccess] | None = None,
) -> QuizWithKeys:
    """The owning tutor or an admin adds a quiz to a lesson; 201 with the keys, for them.
    `found` is the lesson and access the endpoint's relation read from the body."""
    lesson_id = str(body.lesson_id)
    _, access = found or await access_service.lesson_access(ctx, principal, lesson_id)
    if not access.can_manage or access.frozen:
        raise access_service.refused(access, AUTHORS_ONLY)
    errors = question_errors(body.questions)
    if errors:
        raise Invalid("Some answer keys do not fit their questions.", errors=errors)
    questions = stored_questions(body.questions)
    async with ctx.db.transaction() as conn:
        row = await quizzes_sql.insert_quiz(
            conn,
            quiz_id=str(uuid.uuid4()),
            course_id=access.course_id,
            lesson_id=lesson_id,
            title=body.title,
            questions=questions,
            max_score=sum(q["points"] for q in questions),
            max_attempts=body.max_attempts or ctx.settings.quiz_max_attempts,
            pass_mark_percent=body.pass_mark_percent,
        )
    await audit.record(
        ctx, principal, "quiz.created", f"quiz/{row.id}",
        {"courseId": access.course_id, "lessonId": lesson_id, "before": None, "after": audited_quiz(row)},
    )
    return with_keys(row)


async def _load(ctx: AppContext, quiz_id: str) -> QuizRow:
    async with ctx.db.connection() as conn:
        row = await quizzes_sql.get_quiz(conn, quiz_id)
    if row is None:
        raise NotFound("No such quiz.")
    return row


async def quiz_access(ctx: AppContext, principal: Principal, quiz_id: str) -> tuple[QuizRow, CourseAccess]:
    """The quiz row and the caller's access to its course; 404 when either is hidden."""
    row = await _load(ctx, quiz_id)
    try:
        access = await access_service.course_access(ctx, principal, str(row.course_id))
    except NotFound:
        raise NotFound("No such quiz.") from None
    return row, access


async def get_quiz(
    ctx: AppContext,
    principal: Principal,
    quiz_id: str,
    *,
    found: tuple[QuizRow, CourseAccess] | None = None,
) -> Quiz:
    """Questions without keys, for members of the course (a hidden course's quiz is a 404)."""
    row, access = found or await quiz_access(ctx, principal, quiz_id)
    if not access.is_member:
        raise Forbidden(access_service.MEMBERS_ONLY)
    used = None
    if access.relation == "enrolled":
        async with ctx.db.connection() as conn:
            used = await quizzes_sql.count_attempts(conn, quiz_id, principal.user_id)
    return Quiz(**_quiz_fields(row), questions=_public(row.questions), attempts_used=used)


async def lesson_quizzes(ctx: AppContext, lesson_id: str) -> LessonQuizzes:
    """The quizzes of a lesson the endpoint's relation let the caller read (no questions)."""
    async with ctx.db.connection() as conn:
        rows = await quizzes_sql.quizzes_of_lesson(conn, lesson_id)
    return LessonQuizzes(items=[QuizBase(**_quiz_fields(row)) for row in rows])


CHANGED = "The quiz changed while you answered it: read it again and answer it as it is now."


async def submit_attempt(
    ctx: AppContext,
    principal: Principal,
    quiz_id: str,
    body: AttemptCreate,
    idempotency_key: str | None,
    *,
    found: tuple[AnswerKey | QuizRow, CourseAccess] | None = None,
) -> tuple[int, dict[str, Any], bool]:
    """(status, body, replayed): a graded, stored attempt, or the stored answer to this key.
    `found` is the quiz and the caller's enrolment the endpoint's relation already read
    (`kept_quiz_access`: the process's copy; a plain row is a read of this request's own).

    Graded in memory against the copy, then stored by one statement (`store_attempt`) that
    writes only while the copy's version is the quiz's: a copy an edit made stale is read
    again, and when its questions differ from the ones graded against, the answer is the 409
    an edit during the request has always been. A passing score stores its attempt and the
    lesson's completion in one transaction; any other attempt is that one statement.
    """
    key = idempotency.check_key(idempotency_key, required=True)
    assert key is not None
    found = found or await quiz_keys.kept_quiz_access(ctx, principal, quiz_id)
    read, access = found
    if access.relation != "enrolled" or not principal.has_role("student"):
        raise Forbidden(TAKERS_ONLY)
    if isinstance(read, QuizRow):
        graded = await quiz_keys.answer_key(ctx, quiz_id, fresh=True)
        if graded.quiz.questions != read.questions:
            raise Conflict(CHANGED)
    else:
        graded = read
    errors = answer_errors(graded.quiz.questions, body.answers)
    if errors:
        # Refused only by the quiz as it is now, not by an older copy.
        current = await quiz_keys.answer_key(ctx, quiz_id, fresh=True)
        if current.version != graded.version:
            raise Conflict(CHANGED)
        raise Invalid("The answers do not fit the quiz.", errors=errors)
    digest = idempotency.request_hash(body.model_dump(mode="json"))
    for last in (False, True):
        write = _graded_write(principal, graded, access, body, key, digest)
        stored, completed = await _store(ctx, graded, write)
        if stored.max_attempts is not None:
            break
        # The quiz changed since the copy was read, or is gone (404 from the reload).
        current = await quiz_keys.answer_key(ctx, quiz_id, fresh=True)
        if last or current.quiz.questions != graded.quiz.questions:
            raise Conflict(CHANGED)
        graded = current  # only its settings changed: the same grade against the new version
    if stored.replay_hash is not None:
        previous = StoredKey(stored.replay_hash, stored.replay_status, stored.replay_response)
        outcome = idempotency.replay(previous, digest)
        return outcome.status, outcome.body, True
    if stored.attempt_no is None:
        async with ctx.db.connection() as conn:
            taken = await attempts_sql.stored_key(conn, principal.user_id, write.scope, key)
        if taken is not None:  # a concurrent request with this key took the last attempt
            outcome = idempotency.replay(StoredKey(*taken), digest)
            return outcome.status, outcome.body, True
        limit = stored.max_attempts
        raise Invalid(f"All {limit} attempts at this quiz are used.", title="Attempt limit reached")
    result = {**write.response, "attemptNo": stored.attempt_no}
    previous_best = await _previous_best(ctx, write, stored)
    effect = {**write.effect, "attemptNo": stored.attempt_no, "notificationId": stored.notification_id}
    try:
        effect["leaderboard"] = await quiz_effects.own_views(ctx, principal, graded.quiz, result, previous_best, completed)
    finally:  # without the board's move (own_views raised), the run learns it again
        ctx.background.spawn(quiz_effects.after_commit(ctx, effect))
    return 201, result, False


def _graded_write(
    principal: Principal, graded: AnswerKey, access: CourseAccess, body: AttemptCreate, key: str, digest: str
) -> attempts_sql.AttemptWrite:
    quiz = graded.quiz
    score, max_score, per_question = grade(quiz.questions, body.answers)
    attempt_id, now = str(uuid.uuid4()), datetime.now(UTC)
    results = [QuestionResult(index=r.index, correct=r.correct, points=r.points, awarded=r.awarded) for r in per_question]
    response = AttemptResult(
        id=attempt_id, attempt_id=attempt_id, quiz_id=quiz.id, attempt_no=1, score=score, max_score=max_score,
        per_question=results, created_at=now,
    ).model_dump(mode="json", by_alias=True)
    del response["attemptNo"]
    effect = quiz_effects.graded_effect(principal, quiz, response)
    return attempts_sql.AttemptWrite(
        attempt_id=attempt_id, quiz_id=str(quiz.id), version=graded.version, course_id=access.course_id,
        lesson_id=str(quiz.lesson_id), user_id=principal.user_id, answers=[list(a) for a in body.answers],
        score=score, max_score=max_score, per_question=response["perQuestion"], created_at=now,
        scope=f"quiz-attempt {quiz.id}", key=key, request_hash=digest, response=response,
        effect_kind=quiz_effects.GRADED_EFFECT, effect=effect, effect_grace_seconds=quiz_effects.PARKED_GRACE_SECONDS,
        notification=quiz_effects.graded_notification(effect),
    )


async def _store(ctx: AppContext, graded: AnswerKey, write: attempts_sql.AttemptWrite) -> tuple[AttemptStored, Completed]:
    """Runs the attempt's statement: alone (its own transaction) for a score below the pass
    mark, which completes nothing; with the lesson's completion in one transaction for a
    passing one. A concurrent request that stored the same key first makes it ask again,
    and the answer is then that request's."""
    quiz = graded.quiz
    passing = write.score * 100 >= quiz.pass_mark_percent * quiz.max_score
    for last in (False, True):
        try:
            if passing:
                async with ctx.db.transaction() as conn:
                    stored = await attempts_sql.store_attempt(conn, write)
                    if not stored.lesson_due:
                        return stored, None
                    return stored, await completion.complete_in(conn, write.user_id, [write.lesson_id], write.course_id)
            async with ctx.db.connection() as conn:
                stored = await attempts_sql.store_attempt(conn, write)
        except KeyRace:
            if last:
                raise
            continue
        if not stored.lesson_due:
            return stored, None
        # Not this attempt's pass: the lesson already passed without being completed (an
        # edit or a delete of another quiz changed the rule); completed now, as before.
        async with ctx.db.transaction() as conn:
            return stored, await completion.complete_in(conn, write.user_id, [write.lesson_id], write.course_id)
    raise AssertionError("unreachable")


async def _previous_best(ctx: AppContext, write: attempts_sql.AttemptWrite, stored: AttemptStored) -> int | None:
    """The student's best before this attempt: from the statement's snapshot, unless a
    concurrent attempt of theirs committed after it was taken (then from the attempts)."""
    number = stored.attempt_no
    assert number is not None
    if number == 1:
        return None
    if stored.prior_attempts == number - 1:
        return stored.prior_best
    async with ctx.db.connection() as conn:
        return await attempts_sql.best_before(conn, write.quiz_id, write.user_id, number)

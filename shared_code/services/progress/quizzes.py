"""Quizzes: written by the course's tutor, answered by enrolled students, graded by the
rules in `domain/quizzes.py` (exact-set, no partial credit).

Answer keys never leave the server except back to the tutor who wrote them.

An attempt is stored with its answers and its `Idempotency-Key` in one transaction, so a
client retrying after a lost response gets the same attempt back (201, same id) and never
a second one; the same key with other answers is a 409. Each student has at most the
quiz's `maxAttempts`; the next one is a 422.

A quiz lesson completes when the student's best score reaches the pass mark
(`passMarkPercent` of the max score) on its quiz (on every quiz, should it have several).
The check and the completion are written in the attempt's own transaction, so a passing
attempt is never stored without its completion; a failing one completes nothing, and a
later failing attempt never undoes a pass (completion is sticky).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared_code.adapters.postgres import quizzes as quizzes_sql
from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.quizzes import QuizRow
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain import notifications as texts
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
from shared_code.platform import audit, idempotency, outbox
from shared_code.platform.access import CourseAccess
from shared_code.services.notifications import delivery as notify
from shared_code.services.progress import changelog, completion, dashboard

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


async def submit_attempt(
    ctx: AppContext,
    principal: Principal,
    quiz_id: str,
    body: AttemptCreate,
    idempotency_key: str | None,
    *,
    found: tuple[QuizRow, CourseAccess] | None = None,
) -> tuple[int, dict[str, Any], bool]:
    """(status, body, replayed): a graded, stored attempt, or the stored answer to this key.
    `found` is the quiz and the caller's enrolment the endpoint's relation already read."""
    key = idempotency.check_key(idempotency_key, required=True)
    quiz, access = found or await quiz_access(ctx, principal, quiz_id)
    if access.relation != "enrolled" or not principal.has_role("student"):
        raise Forbidden(TAKERS_ONLY)
    course_id = access.course_id
    errors = answer_errors(quiz.questions, body.answers)
    if errors:
        raise Invalid("The answers do not fit the quiz.", errors=errors)
    score, max_score, graded = grade(quiz.questions, body.answers)
    per_question = [QuestionResult(index=r.index, correct=r.correct, points=r.points, awarded=r.awarded) for r in graded]
    user_id = principal.user_id
    previous: dict[str, int | None] = {}
    completed: list[tuple[list[dict[str, Any]], float]] = []

    async def store(conn: Conn) -> tuple[int, Any]:
        await quizzes_sql.lock_attempts(conn, quiz_id, user_id)
        # Graded against the questions read before this transaction: an edit or a delete
        # that committed since (quiz_edits.py) is seen here, and one in flight waits for us.
        current = await quizzes_sql.questions_for_attempt(conn, quiz_id)
        if current is None:
            raise NotFound("No such quiz.")
        if current != quiz.questions:
            raise Conflict("The quiz changed while you answered it: read it again and answer it as it is now.")
        used = await quizzes_sql.count_attempts(conn, quiz_id, user_id)
        if used >= quiz.max_attempts:
            raise Invalid(f"All {quiz.max_attempts} attempts at this quiz are used.", title="Attempt limit reached")
        previous["best"] = await quizzes_sql.best_score(conn, quiz_id, user_id)
        attempt_id = str(uuid.uuid4())
        row = await quizzes_sql.insert_attempt(
            conn,
            attempt_id=attempt_id,
            quiz_id=quiz_id,
            course_id=course_id,
            user_id=user_id,
            attempt_no=used + 1,
            answers=[list(a) for a in body.answers],
            score=score,
            max_score=max_score,
            per_question=[r.model_dump(mode="json", by_alias=True) for r in per_question],
        )
        await quizzes_sql.record_best(conn, quiz_id=quiz_id, user_id=user_id, course_id=course_id, score=score)
        lesson_id = str(quiz.lesson_id)
        if await quizzes_sql.lesson_passed(conn, lesson_id, user_id):
            completed.append(await completion.complete_in(conn, user_id, [lesson_id], course_id))
        result = AttemptResult(
            id=attempt_id,
            attempt_id=attempt_id,
            quiz_id=quiz_id,
            attempt_no=row.attempt_no,
            score=score,
            max_score=max_score,
            per_question=per_question,
            created_at=row.created_at,
        )
        return 201, result.model_dump(mode="json", by_alias=True)

    outcome = await idempotency.run_once(
        ctx,
        user_id=user_id,
        scope=f"quiz-attempt {quiz_id}",
        key=key,
        body=body.model_dump(mode="json"),
        action=store,
    )
    if not outcome.replayed:
        await _after_attempt(ctx, principal, quiz, outcome.body, previous.get("best"))
        for rows, course_progress in completed:
            await completion.announce(ctx, rows, course_progress)
    return outcome.status, outcome.body, outcome.replayed


async def _after_attempt(
    ctx: AppContext, principal: Principal, quiz: QuizRow, result: dict[str, Any], previous_best: int | None
) -> None:
    """The push, the change log and the leaderboard; each runs now or is queued for retry."""
    user_id, course_id, quiz_id = principal.user_id, str(quiz.course_id), str(quiz.id)
    attempt_id, at = result["attemptId"], result["createdAt"]
    message = {
        "type": "quiz.graded",
        "quizId": quiz_id,
        "courseId": course_id,
        "attemptId": attempt_id,
        "attemptNo": result["attemptNo"],
        "score": result["score"],
        "maxScore": result["maxScore"],
        "at": at,
    }

    async def board_then_dashboard() -> None:
        # The dashboard shows the rank, so it is invalidated after the board moved.
        try:
            await outbox.perform(
                ctx,
                "leaderboard.record",
                {
                    "courseId": course_id,
                    "userId": user_id,
                    "name": principal.name,
                    "quizId": quiz_id,
                    "score": result["score"],
                    "attemptId": attempt_id,
                    "at": at,
                    "previousBest": previous_best,
                },
            )
        finally:
            await dashboard.invalidate_dashboard(ctx, user_id)

    outcomes = await asyncio.gather(
        outbox.perform(ctx, "pubsub.user", {"userId": user_id, "message": message}),
        changelog.record(
            ctx,
            user_id,
            "quiz.attempted",
            at=datetime.fromisoformat(at),
            course_id=course_id,
            subject_id=attempt_id,
            details={"quizId": quiz_id, "attemptNo": result["attemptNo"], "score": result["score"], "maxScore": result["maxScore"]},
        ),
        board_then_dashboard(),
        return_exceptions=True,
    )
    for failure in (o for o in outcomes if isinstance(o, BaseException)):
        logger.error("an attempt effect could neither run nor be queued: %s", failure)
    notify.notify_user(
        ctx, user_id,
        texts.quiz_graded(attempt_id, quiz_id, course_id, quiz.title, result["score"], result["maxScore"], datetime.fromisoformat(at)),
    )
    logger.info("quiz graded", extra={"quizId": quiz_id, "userId": user_id, "score": result["score"]})

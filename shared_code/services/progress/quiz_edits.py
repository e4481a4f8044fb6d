"""Tutor tools for a quiz: editing it and deleting it.

What an edit may change, and why. The title, the pass mark and the attempt limit change
at any time. The questions (and with them the answer keys and points) change only while
nobody has attempted the quiz; after the first attempt such an edit is a 409
`quiz-attempted`. Every stored attempt, best score, leaderboard point, `quiz.graded`
push, notification and change-log entry was earned against the keys as they were, and a
completion earned by a pass is never taken back: regrading would rewrite what students
were already told while leaving completions as they were, so the two would disagree. A
tutor who wants other questions deletes the quiz (its attempts go with it, audited) or adds
another. Sending the questions unchanged is not a change and is allowed.

The pass mark keeps quiz-lesson completion right: lowering it completes the lesson, in
the edit's own transaction, for every actively enrolled student whose best already passes
the new mark (their completions then go on like any other: change log, push, dashboard,
certificate). Raising it un-completes nobody, because completion is never lost; it only
raises the bar for those who have not passed yet. Lowering the attempt limit below what a
student used leaves their attempts and only refuses the next one.

An edit and an attempt at the same quiz run one after the other: the edit locks the quiz
row, the attempt reads it again in its own transaction (`FOR KEY SHARE`) and refuses (409)
when the questions it was graded against have changed, so no attempt is ever stored
against keys that are no longer the quiz's, and no key change slips in beside a first
attempt.

A delete takes the quiz's attempts and best scores with it (foreign keys cascade), as a
lesson delete does: they describe answers to questions that no longer exist. The lesson
and its completions stay (completion is never lost); when the lesson keeps other quizzes,
students who passed every one that remains now complete it (the lesson's rule is every
quiz passed); the course's leaderboard is rebuilt
without the quiz (`leaderboard.reset`), and the dashboards of the students who took it
are retired. Both are audited with the quiz before and after, keys included.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from shared_code.adapters.postgres import progress as progress_sql
from shared_code.adapters.postgres import quizzes as quizzes_sql
from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.quizzes import QuizRow
from shared_code.adapters.redis import dashboard as dashboard_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.quizzes import question_errors, stored_questions
from shared_code.errors import Invalid, NotFound, QuizAttempted
from shared_code.models.progress import QuizUpdate, QuizWithKeys
from shared_code.platform import access as access_service
from shared_code.platform import audit, outbox
from shared_code.platform.access import CourseAccess
from shared_code.services.progress import completion
from shared_code.services.progress.quiz_keys import forget_quiz
from shared_code.services.progress.quizzes import audited_quiz, quiz_access, with_keys

logger = logging.getLogger("lectern.quizzes")

# The refusal of the relation the endpoints declare (`functions/progress.py`), also given
# here to callers that reach the service without HTTP.
EDITORS_ONLY = "Only the course's tutor and admins change or delete its quizzes."
# Students whose dashboards are retired per Redis round trip.
RETIRE_BATCH = 1000


async def _editable(
    ctx: AppContext, principal: Principal, quiz_id: str, found: tuple[QuizRow, CourseAccess] | None
) -> CourseAccess:
    _, access = found or await quiz_access(ctx, principal, quiz_id)
    if not access.can_manage or access.frozen:
        raise access_service.refused(access, EDITORS_ONLY)
    return access


async def update_quiz(
    ctx: AppContext,
    principal: Principal,
    quiz_id: str,
    body: QuizUpdate,
    *,
    found: tuple[QuizRow, CourseAccess] | None = None,
) -> QuizWithKeys:
    """Edits a quiz (see the module's note on what may change once it was attempted)."""
    access = await _editable(ctx, principal, quiz_id, found)
    questions = None
    if body.questions is not None:
        errors = question_errors(body.questions)
        if errors:
            raise Invalid("Some answer keys do not fit their questions.", errors=errors)
        questions = stored_questions(body.questions)
    async with ctx.db.transaction() as conn:
        before = await quizzes_sql.lock_quiz(conn, quiz_id)
        if before is None:
            raise NotFound("No such quiz.")
        if questions is not None and questions != before.questions:
            counts = await quizzes_sql.quiz_attempt_counts(conn, quiz_id)
            if counts["attempts"]:
                raise QuizAttempted(
                    f"{counts['students']} student(s) made {counts['attempts']} attempt(s) at this quiz, so its "
                    "questions and answer keys no longer change. The title, pass mark and attempt limit still do; "
                    "to ask other questions, delete the quiz or add another."
                )
        new_questions = questions if questions is not None else before.questions
        after = await quizzes_sql.update_quiz(
            conn,
            quiz_id,
            title=body.title if body.title is not None else before.title,
            questions=new_questions,
            max_score=sum(q["points"] for q in new_questions),
            max_attempts=body.max_attempts if body.max_attempts is not None else before.max_attempts,
            pass_mark_percent=body.pass_mark_percent if body.pass_mark_percent is not None else before.pass_mark_percent,
        )
        completed: list[dict[str, Any]] = []
        if after.pass_mark_percent < before.pass_mark_percent:
            lesson_id = str(after.lesson_id)
            passing = await quizzes_sql.newly_passing(conn, quiz_id, lesson_id)
            completed = await progress_sql.upsert_many(conn, [completion.finished(u, lesson_id) for u in passing])
    forget_quiz(ctx, quiz_id)
    if audited_quiz(before) != audited_quiz(after):
        await audit.record(
            ctx, principal, "quiz.updated", f"quiz/{quiz_id}",
            {"courseId": access.course_id, "lessonId": str(after.lesson_id),
             "before": audited_quiz(before), "after": audited_quiz(after), "completedNow": len(completed)},
        )
    for row in completed:
        await completion.late_completion(ctx, row)
    return with_keys(after)


async def delete_quiz(
    ctx: AppContext, principal: Principal, quiz_id: str, *, found: tuple[QuizRow, CourseAccess] | None = None
) -> None:
    """Deletes a quiz with its attempts and best scores (see the module's note)."""
    access = await _editable(ctx, principal, quiz_id, found)
    async with ctx.db.transaction() as conn:
        if await quizzes_sql.lock_quiz(conn, quiz_id) is None:
            raise NotFound("No such quiz.")
        counts = await quizzes_sql.quiz_attempt_counts(conn, quiz_id)
        takers = await quizzes_sql.takers(conn, quiz_id)
        row = await quizzes_sql.delete_quiz(conn, quiz_id)
        assert row is not None  # locked above, in this transaction
        completed = await _complete_passed(conn, str(row.lesson_id))
    forget_quiz(ctx, quiz_id)
    await audit.record(
        ctx, principal, "quiz.deleted", f"quiz/{quiz_id}",
        {"courseId": access.course_id, "lessonId": str(row.lesson_id), "before": audited_quiz(row), "after": None,
         "removed": {"quizAttempts": counts["attempts"], "bestScores": counts["students"]}},
    )
    for completion_row in completed:
        await completion.late_completion(ctx, completion_row)
    if takers:
        await outbox.perform(ctx, "leaderboard.reset", {"courseId": access.course_id})
        await _retire_dashboards(ctx, takers)


async def _complete_passed(conn: Conn, lesson_id: str) -> list[dict[str, Any]]:
    """After a quiz left a lesson of several: the students who passed every quiz that
    remains now pass the lesson (one who passed them all has a best on any one of them)."""
    remaining = await quizzes_sql.first_quiz_of_lesson(conn, lesson_id)
    if remaining is None:
        return []
    passing = await quizzes_sql.newly_passing(conn, remaining, lesson_id)
    return await progress_sql.upsert_many(conn, [completion.finished(u, lesson_id) for u in passing])


async def _retire_dashboards(ctx: AppContext, user_ids: list[str]) -> None:
    """The dashboards that listed the quiz's attempts; best effort (their short TTL bounds
    what a Redis failure leaves behind)."""
    try:
        for start in range(0, len(user_ids), RETIRE_BATCH):
            await dashboard_redis.invalidate_many(ctx.redis, user_ids[start : start + RETIRE_BATCH])
    except RedisError as exc:
        logger.warning("dashboards of a deleted quiz's takers left to expire: %s", type(exc).__name__)

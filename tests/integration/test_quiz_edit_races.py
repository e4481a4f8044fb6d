"""A quiz edited or deleted while a student answers it, against the real PostgreSQL: the
attempt was graded against the questions the student read, so it is stored only if those
are still the quiz's (409 otherwise, 404 when the quiz is gone), and an edit that waits for
an attempt in flight then sees it and refuses to move the keys."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared_code.adapters.postgres import quizzes as quizzes_sql
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import Conflict, NotFound, QuizAttempted
from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest, LessonCreate
from shared_code.models.progress import AttemptCreate, QuestionCreate, QuizCreate, QuizUpdate
from shared_code.services.content import courses, enrollments
from shared_code.services.progress import quiz_edits, quizzes
from tests.integration.conftest import person

pytestmark = pytest.mark.timeout(120)

QUESTIONS = [QuestionCreate(prompt="a", options=["x", "y"], correct=[0], points=1)]
MOVED = [QuestionCreate(prompt="a", options=["x", "y"], correct=[1], points=1)]


async def quiz_with_student(ctx: AppContext) -> tuple[Principal, Principal, str]:
    tutor, student = person("tutor"), person("student")
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title="Race", description="d"), idempotency_key=None)
    course_id = str(course["id"])
    _, lesson = await courses.add_lesson(ctx, tutor, course_id, LessonCreate(title="Q", kind="quiz"), idempotency_key=None)
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(published=True))
    quiz = await quizzes.create_quiz(ctx, tutor, QuizCreate(lesson_id=lesson["id"], title="Q", questions=QUESTIONS))
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    return tutor, student, str(quiz.id)


async def attempts_of(ctx: AppContext, quiz_id: str, student: Principal) -> int:
    async with ctx.db.connection() as conn:
        return await quizzes_sql.count_attempts(conn, quiz_id, student.user_id)


async def test_an_attempt_graded_against_keys_changed_meanwhile_is_refused_and_not_stored(ctx):
    tutor, student, quiz_id = await quiz_with_student(ctx)
    read = await quizzes.quiz_access(ctx, student, quiz_id)  # what the relation read for the attempt
    await quiz_edits.update_quiz(ctx, tutor, quiz_id, QuizUpdate(questions=MOVED))
    with pytest.raises(Conflict) as refused:
        await quizzes.submit_attempt(ctx, student, quiz_id, AttemptCreate(answers=[[0]]), "k1", found=read)
    assert "changed" in str(refused.value.detail)
    assert await attempts_of(ctx, quiz_id, student) == 0
    # Read again, the student answers the quiz as it is now.
    fresh = await quizzes.submit_attempt(ctx, student, quiz_id, AttemptCreate(answers=[[1]]), "k2")
    assert fresh[1]["score"] == 1


async def test_an_attempt_at_a_quiz_deleted_meanwhile_is_a_404(ctx):
    tutor, student, quiz_id = await quiz_with_student(ctx)
    read = await quizzes.quiz_access(ctx, student, quiz_id)
    await quiz_edits.delete_quiz(ctx, tutor, quiz_id)
    with pytest.raises(NotFound):
        await quizzes.submit_attempt(ctx, student, quiz_id, AttemptCreate(answers=[[0]]), "k1", found=read)


async def test_a_key_change_waits_for_an_attempt_in_flight_and_then_refuses(ctx):
    tutor, student, quiz_id = await quiz_with_student(ctx)
    row, _ = await quizzes.quiz_access(ctx, student, quiz_id)
    # An attempt's transaction reads the quiz row (FOR KEY SHARE) and holds it until it commits.
    async with ctx.db.transaction() as conn:
        assert await quizzes_sql.questions_for_attempt(conn, quiz_id) == row.questions
        edit = asyncio.ensure_future(quiz_edits.update_quiz(ctx, tutor, quiz_id, QuizUpdate(questions=MOVED)))
        await asyncio.sleep(0.5)
        assert not edit.done()  # the edit waits for the attempt
        await quizzes_sql.insert_attempt(
            conn, attempt_id=str(uuid.uuid4()), quiz_id=quiz_id, course_id=str(row.course_id),
            user_id=student.user_id, attempt_no=1, answers=[[0]], score=1, max_score=1, per_question=[],
        )
    with pytest.raises(QuizAttempted):
        await edit
    async with ctx.db.connection() as conn:
        assert (await quizzes_sql.get_quiz(conn, quiz_id)).questions[0]["correct"] == [0]

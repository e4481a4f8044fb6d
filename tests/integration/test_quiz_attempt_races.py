"""A student's submits fired all at once, against the real PostgreSQL: the attempt cap,
the attempt numbers and the `Idempotency-Key` stay exact however the statements interleave
(each submit is one statement that counts on the student's `quiz_best` row, see
`adapters/postgres/quizzes.py` `store_attempt`)."""

from __future__ import annotations

import asyncio

import pytest

from shared_code.adapters.postgres import quizzes as quizzes_sql
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import Conflict, Invalid
from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest, LessonCreate
from shared_code.models.progress import AttemptCreate, QuestionCreate, QuizCreate, QuizUpdate
from shared_code.services.content import courses, enrollments
from shared_code.services.progress import quiz_edits, quiz_keys, quizzes
from tests.integration.conftest import person

pytestmark = pytest.mark.timeout(120)

QUESTIONS = [QuestionCreate(prompt="a", options=["x", "y"], correct=[0], points=1)]
WRONG = AttemptCreate(answers=[[1]])  # fails the pass mark: the one-statement path
RIGHT = AttemptCreate(answers=[[0]])  # passes: the statement and the completion in one transaction


async def quiz_with_student(ctx: AppContext, *, max_attempts: int) -> tuple[Principal, Principal, str]:
    tutor, student = person("tutor"), person("student")
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title="Race", description="d"), idempotency_key=None)
    course_id = str(course["id"])
    _, lesson = await courses.add_lesson(ctx, tutor, course_id, LessonCreate(title="Q", kind="quiz"), idempotency_key=None)
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(published=True))
    created = QuizCreate(lesson_id=lesson["id"], title="Q", questions=QUESTIONS, max_attempts=max_attempts)
    quiz = await quizzes.create_quiz(ctx, tutor, created)
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    return tutor, student, str(quiz.id)


async def stored_numbers(ctx: AppContext, quiz_id: str, student: Principal) -> list[int]:
    async with ctx.db.connection() as conn:
        cur = await conn.execute(
            "SELECT attempt_no FROM quiz_attempts WHERE quiz_id = %s AND user_id = %s ORDER BY attempt_no",
            (quiz_id, student.user_id),
        )
        return [int(r["attempt_no"]) for r in await cur.fetchall()]


async def open_connections(ctx: AppContext, n: int) -> None:
    """The pool opens connections as they are asked for: held at once here, they are open
    for the burst, so its statements really run side by side rather than queue for one."""
    async def hold(release: asyncio.Event) -> None:
        async with ctx.db.connection():
            await release.wait()

    release = asyncio.Event()
    holders = [asyncio.ensure_future(hold(release)) for _ in range(n)]
    while ctx.db.pool.get_stats().get("pool_size", 0) < n:
        await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(*holders)


async def fire(ctx: AppContext, student: Principal, quiz_id: str, bodies: list[AttemptCreate], keys: list[str]) -> list:
    await open_connections(ctx, 10)
    return await asyncio.gather(
        *(quizzes.submit_attempt(ctx, student, quiz_id, body, key) for body, key in zip(bodies, keys, strict=True)),
        return_exceptions=True,
    )


@pytest.mark.parametrize("body", [WRONG, RIGHT], ids=["failing", "passing"])
async def test_twenty_submits_at_once_never_exceed_the_attempt_limit(ctx, body):
    _, student, quiz_id = await quiz_with_student(ctx, max_attempts=3)
    answers = await fire(ctx, student, quiz_id, [body] * 20, [f"script-{i}" for i in range(20)])

    stored = [a for a in answers if isinstance(a, tuple)]
    refused = [a for a in answers if isinstance(a, Invalid)]
    assert len(stored) == 3 and len(refused) == 17, answers
    assert all(a.title == "Attempt limit reached" for a in refused)
    assert sorted(a[1]["attemptNo"] for a in stored) == [1, 2, 3]
    assert await stored_numbers(ctx, quiz_id, student) == [1, 2, 3]
    async with ctx.db.connection() as conn:
        assert await quizzes_sql.count_attempts(conn, quiz_id, student.user_id) == 3
    # A fresh key after the burst is still refused, and a lowered limit refuses too.
    with pytest.raises(Invalid):
        await quizzes.submit_attempt(ctx, student, quiz_id, body, "after")


async def test_the_same_key_fired_ten_times_at_once_stores_one_attempt_and_answers_it_ten_times(ctx):
    _, student, quiz_id = await quiz_with_student(ctx, max_attempts=5)
    answers = await fire(ctx, student, quiz_id, [WRONG] * 10, ["retry"] * 10)

    assert all(isinstance(a, tuple) for a in answers), answers
    assert {a[0] for a in answers} == {201}
    assert len({a[1]["attemptId"] for a in answers}) == 1
    assert sum(not a[2] for a in answers) == 1  # one stored it, nine replayed it
    assert await stored_numbers(ctx, quiz_id, student) == [1]


async def test_the_same_key_racing_for_the_last_attempt_is_answered_as_stored_not_refused(ctx):
    _, student, quiz_id = await quiz_with_student(ctx, max_attempts=2)
    await quizzes.submit_attempt(ctx, student, quiz_id, WRONG, "first")
    answers = await fire(ctx, student, quiz_id, [WRONG] * 8, ["last"] * 8)

    assert all(isinstance(a, tuple) and a[0] == 201 for a in answers), answers
    assert len({a[1]["attemptId"] for a in answers}) == 1
    assert await stored_numbers(ctx, quiz_id, student) == [1, 2]


async def test_an_attempt_limit_lowered_by_another_process_holds_at_once(ctx):
    """The kept copy of the quiz is stale after an edit elsewhere; the statement reads the
    limit from the row itself."""
    tutor, student, quiz_id = await quiz_with_student(ctx, max_attempts=5)
    await quizzes.submit_attempt(ctx, student, quiz_id, WRONG, "a")  # the copy is kept now
    kept = ctx.content_cache.quiz_keys[quiz_id]
    await quiz_edits.update_quiz(ctx, tutor, quiz_id, QuizUpdate(max_attempts=1))
    ctx.content_cache.quiz_keys[quiz_id] = kept  # as another process would still hold it
    with pytest.raises(Invalid) as refused:
        await quizzes.submit_attempt(ctx, student, quiz_id, WRONG, "b")
    assert "All 1 attempts" in str(refused.value.detail)
    assert await stored_numbers(ctx, quiz_id, student) == [1]


async def test_a_kept_copy_with_keys_edited_elsewhere_is_refused_and_then_read_again(ctx):
    tutor, student, quiz_id = await quiz_with_student(ctx, max_attempts=5)
    await quiz_keys.kept_quiz_access(ctx, student, quiz_id)  # this process keeps the quiz now
    kept = ctx.content_cache.quiz_keys[quiz_id]
    moved = [QuestionCreate(prompt="a", options=["x", "y"], correct=[1], points=1)]
    await quiz_edits.update_quiz(ctx, tutor, quiz_id, QuizUpdate(questions=moved))
    ctx.content_cache.quiz_keys[quiz_id] = kept  # as another process would still hold it

    with pytest.raises(Conflict):
        await quizzes.submit_attempt(ctx, student, quiz_id, RIGHT, "stale")  # right only by the old key
    assert await stored_numbers(ctx, quiz_id, student) == []
    # The refusal read the quiz again: the retry is graded by the key as it is now.
    status, body, _ = await quizzes.submit_attempt(ctx, student, quiz_id, RIGHT, "stale")
    assert (status, body["score"]) == (201, 0)


async def test_a_kept_copy_whose_title_changed_elsewhere_grades_the_same_and_stores(ctx):
    tutor, student, quiz_id = await quiz_with_student(ctx, max_attempts=5)
    await quiz_keys.kept_quiz_access(ctx, student, quiz_id)
    kept = ctx.content_cache.quiz_keys[quiz_id]
    await quiz_edits.update_quiz(ctx, tutor, quiz_id, QuizUpdate(title="Renamed"))
    ctx.content_cache.quiz_keys[quiz_id] = kept

    status, body, _ = await quizzes.submit_attempt(ctx, student, quiz_id, RIGHT, "k")
    assert (status, body["score"], body["attemptNo"]) == (201, 1, 1)
    assert ctx.content_cache.quiz_keys[quiz_id].quiz.title == "Renamed"

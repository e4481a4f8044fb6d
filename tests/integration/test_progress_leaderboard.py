"""Leaderboards and the dashboard against real PostgreSQL, Azurite, Web PubSub and a
redis-server this module owns: rebuilds under a herd, Redis losing the board, and Redis
down altogether (served from PostgreSQL, with the same answers)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared_code.adapters.postgres import quizzes as quizzes_sql
from shared_code.adapters.postgres import users as users_sql
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest, LessonCreate
from shared_code.models.progress import AttemptCreate, QuestionCreate, QuizCreate
from shared_code.platform import outbox
from shared_code.services.content import courses, enrollments
from shared_code.services.progress import dashboard, leaderboard, quiz_edits, quizzes
from tests.integration.conftest import person

pytestmark = pytest.mark.timeout(120)

QUESTIONS = [
    QuestionCreate(prompt="a", options=["x", "y"], correct=[0], points=1),
    QuestionCreate(prompt="b", options=["x", "y"], correct=[1], points=2),
    QuestionCreate(prompt="c", options=["x", "y"], correct=[0], points=4),
]


async def scored_course(ctx: AppContext, scores: list[list[list[int]]]) -> tuple[Principal, str, str, list[Principal]]:
    """A course with one quiz and one student per answer sheet, each having submitted it."""
    tutor = person("tutor")
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title="Board", description="d"), idempotency_key=None)
    course_id = str(course["id"])
    _, lesson = await courses.add_lesson(ctx, tutor, course_id, LessonCreate(title="Q", kind="quiz"), idempotency_key=None)
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(published=True))
    quiz = await quizzes.create_quiz(ctx, tutor, QuizCreate(lesson_id=lesson["id"], title="Q", questions=QUESTIONS))
    students = []
    for i, answers in enumerate(scores):
        student = person("student", name=f"student {i}")
        await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
        await quizzes.submit_attempt(ctx, student, str(quiz.id), AttemptCreate(answers=answers), uuid.uuid4().hex)
        students.append(student)
    return tutor, course_id, str(quiz.id), students


ALL = [[0], [1], [0]]  # 7
TWO_AND_FOUR = [[1], [1], [0]]  # 6
FOUR = [[1], [0], [0]]  # 4
ONE = [[0], [0], [1]]  # 1


def rows(board) -> list[tuple[str, int, int]]:
    return [(str(i.user_id), i.points, i.rank) for i in board.items]


async def test_a_herd_of_readers_rebuilds_a_missing_board_with_one_query(ctx, monkeypatch):
    _, course_id, _, students = await scored_course(ctx, [ALL, FOUR, FOUR, ONE])
    expected = await leaderboard.get_leaderboard(ctx, students[3], course_id, 10)
    assert [(p, r) for _, p, r in rows(expected)] == [(7, 1), (4, 2), (4, 2), (1, 4)]

    await ctx.redis.flushall()  # the board is lost (eviction, failover)
    calls = []
    original = quizzes_sql.best_scores

    async def counting(conn, course):
        calls.append(course)
        return await original(conn, course)

    monkeypatch.setattr(quizzes_sql, "best_scores", counting)
    boards = await asyncio.gather(*(leaderboard.get_leaderboard(ctx, s, course_id, 10) for s in students * 50))
    assert calls == [course_id]
    assert {tuple(rows(b)) for b in boards} == {tuple(rows(expected))}
    assert [b.me.rank for b in boards[:4]] == [1, 2, 2, 4]


async def test_attempts_made_while_the_board_is_missing_are_on_it_after_the_rebuild(ctx):
    _, course_id, quiz_id, students = await scored_course(ctx, [FOUR, ONE])
    await ctx.redis.flushall()
    # the lower scorer retakes and now leads; nobody has read the board since it vanished
    await quizzes.submit_attempt(ctx, students[1], quiz_id, AttemptCreate(answers=ALL), uuid.uuid4().hex)
    board = await leaderboard.get_leaderboard(ctx, students[0], course_id, 10)
    assert [(str(i.user_id), i.points) for i in board.items] == [(students[1].user_id, 7), (students[0].user_id, 4)]


async def test_with_redis_down_boards_and_dashboards_come_from_postgres_unchanged(ctx, redis_server):
    tutor, course_id, _, students = await scored_course(ctx, [ALL, TWO_AND_FOUR, FOUR, FOUR, ONE])
    outsider = person("student")
    await enrollments.enrol(ctx, outsider, course_id, EnrollmentRequest())
    from_redis = {s.user_id: await leaderboard.get_leaderboard(ctx, s, course_id, 3) for s in [*students, outsider]}
    tutor_view = await leaderboard.get_leaderboard(ctx, tutor, course_id, 10)
    dash_redis = await dashboard.get_dashboard(ctx, students[2])

    redis_server.kill()
    for s in [*students, outsider]:
        fallback = await leaderboard.get_leaderboard(ctx, s, course_id, 3)
        assert rows(fallback) == rows(from_redis[s.user_id])
        assert (fallback.me.points, fallback.me.rank) == (from_redis[s.user_id].me.points, from_redis[s.user_id].me.rank)
        assert fallback.participants == from_redis[s.user_id].participants == 5
    assert (await leaderboard.get_leaderboard(ctx, tutor, course_id, 10)).me is None and tutor_view.me is None
    assert from_redis[outsider.user_id].me.rank == 6 and from_redis[outsider.user_id].me.points == 0

    dash_pg = await dashboard.get_dashboard(ctx, students[2])
    (a,), (b,) = dash_redis.courses, dash_pg.courses
    assert (a.points, a.rank, a.total_lessons) == (b.points, b.rank, b.total_lessons) == (4, 3, 1)
    assert [r.attempt_id for r in a.recent_quiz_results] == [r.attempt_id for r in b.recent_quiz_results]


async def queued_board_move(ctx: AppContext, course_id: str, quiz_id: str, student: Principal) -> dict:
    """The queue's message for the student's (only) attempt's board move, as a request
    whose move failed would have queued it."""
    async with ctx.db.connection() as conn:
        cur = await conn.execute("SELECT id, created_at, score FROM quiz_attempts WHERE quiz_id = %s", (quiz_id,))
        attempt = await cur.fetchone()
    entry = {"courseId": course_id, "userId": student.user_id, "name": student.name, "quizId": quiz_id,
             "score": attempt["score"], "attemptId": str(attempt["id"]), "at": attempt["created_at"].isoformat(),
             "previousBest": None}
    return {"id": str(uuid.uuid4()), "kind": "leaderboard.record", "payload": entry, "attempt": 2, "reason": "test"}


async def test_a_late_retry_of_an_attempt_at_a_deleted_quiz_puts_no_points_back_on_the_board(ctx):
    # The attempt's board move failed and was queued; the tutor deleted the quiz (its
    # attempts with it, the board reset) before the queue's retry ran.
    tutor, course_id, quiz_id, [student] = await scored_course(ctx, [ALL])
    late = await queued_board_move(ctx, course_id, quiz_id, student)
    await quiz_edits.delete_quiz(ctx, tutor, quiz_id)

    assert await outbox.retry(ctx, late) == "done"

    board = await leaderboard.get_leaderboard(ctx, tutor, course_id, 10)
    assert [item.points for item in board.items if item.points] == []


async def test_a_late_retry_after_the_students_erasure_does_not_put_their_name_back_on_the_board(ctx):
    tutor, course_id, quiz_id, [student] = await scored_course(ctx, [ALL])
    late = await queued_board_move(ctx, course_id, quiz_id, student)
    async with ctx.db.transaction() as conn:  # the student is erased; the board is built again without the name
        assert await users_sql.erase(conn, student.user_id, "Deleted user")
    await ctx.leaderboard_store.reset(course_id)

    assert await outbox.retry(ctx, late) == "done"

    board = await leaderboard.get_leaderboard(ctx, tutor, course_id, 10)
    assert [(str(i.user_id), i.name, i.points) for i in board.items] == [(student.user_id, "Deleted user", 7)]

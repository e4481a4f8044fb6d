"""The effects that follow a quiz attempt (the `quiz.graded` push, the change-log row, the
notification's push; the notification row itself is written by the attempt's statement) are
parked with the attempt in its own statement: the request runs them and
removes the row, and when the process dies before it has, the drain timer runs them from
the row. Nothing the student was answered about is lost with the process."""

from __future__ import annotations

import uuid

import pytest

from shared_code.adapters.postgres.quizzes import QuizRow
from shared_code.context import AppContext
from shared_code.platform import outbox
from shared_code.services.progress import changelog, leaderboard, quiz_edits, quiz_effects, quiz_keys, quizzes
from tests.integration.test_quiz_attempt_races import RIGHT, WRONG, quiz_with_student

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def parked(ctx: AppContext, attempt_id: str) -> tuple[str, float] | None:
    """The attempt's parked row: its kind and how many seconds until it is due."""
    async with ctx.db.connection() as conn:
        cur = await conn.execute(
            "SELECT kind, extract(epoch FROM next_at - now()) AS due_in FROM pending_effects WHERE id = %s", (attempt_id,)
        )
        row = await cur.fetchone()
    return None if row is None else (row["kind"], float(row["due_in"]))


async def effects_landed(ctx: AppContext, user_id: str, attempt_id: str) -> tuple[int, int]:
    """The attempt's own change-log rows (`quiz.attempted`) and notifications."""
    changes, _ = await changelog.read_changes(ctx, user_id, limit=50)
    async with ctx.db.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM notifications WHERE user_id = %s AND dedupe_key = %s",
            (user_id, f"quiz.graded:{attempt_id}"),
        )
        row = await cur.fetchone()
    return sum(1 for c in changes if c.subject_id == attempt_id and c.kind == "quiz.attempted"), int(row["n"]) if row else 0


@pytest.mark.parametrize("body", [WRONG, RIGHT], ids=["failing", "passing"])
async def test_an_answered_attempt_runs_its_effects_and_leaves_nothing_parked(ctx, body):
    _, student, quiz_id = await quiz_with_student(ctx, max_attempts=3)
    status, result, _ = await quizzes.submit_attempt(ctx, student, quiz_id, body, str(uuid.uuid4()))
    assert status == 201
    await ctx.background.drain()
    assert await parked(ctx, result["attemptId"]) is None
    assert await effects_landed(ctx, student.user_id, result["attemptId"]) == (1, 1)


async def test_the_effects_of_an_attempt_whose_process_died_after_answering_are_run_by_the_drain(ctx, monkeypatch):
    _, student, quiz_id = await quiz_with_student(ctx, max_attempts=3)

    async def died(*_: object) -> None:  # the process is gone before its own run of the effects
        return None

    monkeypatch.setattr(quiz_effects, "after_commit", died)
    status, result, _ = await quizzes.submit_attempt(ctx, student, quiz_id, WRONG, str(uuid.uuid4()))
    assert status == 201
    await ctx.background.drain()
    attempt_id = result["attemptId"]
    kind, due_in = await parked(ctx, attempt_id) or ("", 0.0)
    assert kind == quiz_effects.GRADED_EFFECT and due_in > quiz_effects.PARKED_GRACE_SECONDS - 10
    await outbox.drain_parked(ctx)  # not due yet: a live request may still be running them
    assert await parked(ctx, attempt_id) is not None
    # The notification row commits with the attempt; its push and the change-log row wait,
    # the push naming the row.
    assert await effects_landed(ctx, student.user_id, attempt_id) == (0, 1)
    async with ctx.db.connection() as conn:
        cur = await conn.execute(
            "SELECT p.payload->>'notificationId' AS parked, n.id::text AS written FROM pending_effects p"
            " JOIN notifications n ON n.dedupe_key = 'quiz.graded:' || p.id WHERE p.id = %s", (attempt_id,)
        )
        row = await cur.fetchone()
    assert row is not None and row["parked"] == row["written"]

    async with ctx.db.connection() as conn:  # the grace period passes
        await conn.execute("UPDATE pending_effects SET next_at = now() WHERE id = %s", (attempt_id,))
    await outbox.drain_parked(ctx)
    await ctx.background.drain()
    assert await parked(ctx, attempt_id) is None
    assert await effects_landed(ctx, student.user_id, attempt_id) == (1, 1)


async def test_effects_run_twice_land_once(ctx):
    """The request's run and the drain's may both happen (the request died after its effects,
    before removing the row): each effect is idempotent."""
    _, student, quiz_id = await quiz_with_student(ctx, max_attempts=3)
    status, result, _ = await quizzes.submit_attempt(ctx, student, quiz_id, RIGHT, str(uuid.uuid4()))
    await ctx.background.drain()
    payload = {**quiz_effects.graded_effect(student, await quiz_row(ctx, quiz_id), result), "attemptNo": result["attemptNo"]}
    await quiz_effects.run_graded(ctx, payload)
    await ctx.background.drain()
    assert status == 201 and await effects_landed(ctx, student.user_id, result["attemptId"]) == (1, 1)


async def quiz_row(ctx: AppContext, quiz_id: str) -> QuizRow:
    return (await quiz_keys.answer_key(ctx, quiz_id, fresh=True)).quiz


async def test_the_drain_of_an_attempt_at_a_quiz_deleted_meanwhile_puts_no_points_back_on_the_board(ctx, monkeypatch):
    tutor, student, quiz_id = await quiz_with_student(ctx, max_attempts=3)
    course_id = str((await quiz_row(ctx, quiz_id)).course_id)

    async def died(*_: object) -> None:
        return None

    monkeypatch.setattr(quiz_effects, "after_commit", died)
    status, result, _ = await quizzes.submit_attempt(ctx, student, quiz_id, RIGHT, str(uuid.uuid4()))
    assert status == 201
    await ctx.background.drain()
    await quiz_edits.delete_quiz(ctx, tutor, quiz_id)  # its attempts go, the board is reset
    async with ctx.db.connection() as conn:  # the grace period passes
        await conn.execute("UPDATE pending_effects SET next_at = now() WHERE id = %s", (result["attemptId"],))

    await outbox.drain_parked(ctx)
    await ctx.background.drain()

    assert await parked(ctx, result["attemptId"]) is None
    board = await leaderboard.get_leaderboard(ctx, tutor, course_id, 10)
    assert [item.points for item in board.items if item.points] == []

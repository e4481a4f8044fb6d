"""A quiz attempt that raises the student's best is one change-log row, not two: the row of
the attempt carries its move on the leaderboard, and reads give that move back as the
`leaderboard.changed` it always was, in the same order, with the same id, across pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared_code.adapters import table_keys
from shared_code.context import AppContext
from shared_code.pagination import encode_cursor
from shared_code.platform import outbox
from shared_code.services.progress import changelog, quiz_effects, quizzes
from tests.integration.test_quiz_attempt_races import RIGHT, WRONG, quiz_with_student

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


# A passing attempt also completes the quiz lesson (a `progress.completed` row of its own);
# these checks are about the attempts' rows.
QUIZ_KINDS = ("quiz.attempted", "leaderboard.changed")


async def stored_rows(ctx: AppContext, user_id: str) -> list[dict]:
    query = ctx.tables.query(ctx.settings.change_log_table, "PartitionKey eq @u", {"u": user_id})
    return [row async for row in query if row["kind"] in QUIZ_KINDS]


async def every_change(ctx: AppContext, user_id: str, *, limit: int, only_quiz: bool = True) -> list[changelog.Change]:
    changes, cursor = await changelog.read_changes(ctx, user_id, limit=limit)
    while cursor is not None:
        page, cursor = await changelog.read_changes(ctx, user_id, limit=limit, cursor=cursor)
        changes += page
    return [c for c in changes if c.kind in QUIZ_KINDS or not only_quiz]


async def submitted(ctx: AppContext, student, quiz_id: str, body) -> dict:
    status, result, _ = await quizzes.submit_attempt(ctx, student, quiz_id, body, str(uuid.uuid4()))
    assert status == 201
    await ctx.background.drain()
    return result


async def test_attempts_that_raise_the_best_write_one_row_and_read_back_as_two_changes(ctx):
    _, student, quiz_id = await quiz_with_student(ctx, max_attempts=5)
    first = await submitted(ctx, student, quiz_id, WRONG)  # the first best, 0 points
    second = await submitted(ctx, student, quiz_id, RIGHT)  # raises it
    third = await submitted(ctx, student, quiz_id, RIGHT)  # equals it: no move on the board

    rows = await stored_rows(ctx, student.user_id)
    assert sorted(row["kind"] for row in rows) == ["quiz.attempted"] * 3

    changes = await every_change(ctx, student.user_id, limit=50)
    assert [(c.kind, c.subject_id) for c in changes] == [
        ("leaderboard.changed", first["attemptId"]), ("quiz.attempted", first["attemptId"]),
        ("leaderboard.changed", second["attemptId"]), ("quiz.attempted", second["attemptId"]),
        ("quiz.attempted", third["attemptId"]),
    ]
    moved = changes[2]
    assert moved.details == {"quizId": quiz_id, "points": second["score"], "gained": second["score"]}
    assert moved.id == table_keys.change_row_key(moved.at, "leaderboard.changed", second["attemptId"])
    assert changes[3].details == {"quizId": quiz_id, "attemptNo": 2, "score": second["score"],
                                  "maxScore": second["maxScore"]}


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_pages_that_end_inside_a_row_give_every_change_once_in_order(ctx, limit):
    _, student, quiz_id = await quiz_with_student(ctx, max_attempts=5)
    for body in (WRONG, RIGHT, RIGHT, WRONG):
        await submitted(ctx, student, quiz_id, body)
    whole = await every_change(ctx, student.user_id, limit=50, only_quiz=False)
    assert len([c for c in whole if c.kind in QUIZ_KINDS]) == 6
    paged = await every_change(ctx, student.user_id, limit=limit, only_quiz=False)
    assert [c.id for c in paged] == [c.id for c in whole]


async def test_a_cursor_issued_before_rows_held_two_changes_still_resumes_after_its_row(ctx):
    user_id = str(uuid.uuid4())
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for minutes in range(3):
        await changelog.record(ctx, user_id, "progress.completed", at=t0 + timedelta(minutes=minutes),
                               course_id=None, subject_id=f"s{minutes}")
    first, _ = await changelog.read_changes(ctx, user_id, limit=1)
    rest, end = await changelog.read_changes(ctx, user_id, cursor=encode_cursor({"rk": first[0].id}))
    assert [c.subject_id for c in rest] == ["s1", "s2"] and end is None


async def test_the_drain_logs_the_move_of_an_attempt_whose_process_died_after_answering(ctx, monkeypatch):
    _, student, quiz_id = await quiz_with_student(ctx, max_attempts=3)
    await submitted(ctx, student, quiz_id, WRONG)

    async def died(*_: object) -> None:
        return None

    monkeypatch.setattr(quiz_effects, "after_commit", died)
    second = await submitted(ctx, student, quiz_id, RIGHT)
    async with ctx.db.connection() as conn:  # the grace period passes
        await conn.execute("UPDATE pending_effects SET next_at = now() WHERE id = %s", (second["attemptId"],))
    await outbox.drain_parked(ctx)
    await ctx.background.drain()

    changes = [c for c in await every_change(ctx, student.user_id, limit=50) if c.subject_id == second["attemptId"]]
    assert [c.kind for c in changes] == ["leaderboard.changed", "quiz.attempted"]
    assert changes[0].details == {"quizId": quiz_id, "points": second["score"], "gained": second["score"]}


async def test_a_move_the_outbox_logged_on_its_own_row_is_given_once(ctx, monkeypatch):
    """Redis failed before the answer: the queued `leaderboard.record` writes its own row and
    the attempt's row carries no move, so the change is read once whichever wrote it."""
    _, student, quiz_id = await quiz_with_student(ctx, max_attempts=3)
    from shared_code.services.progress import leaderboard

    real = leaderboard.place_attempt
    calls = 0

    async def flaky(ctx_: AppContext, payload: dict) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("redis went away")
        return await real(ctx_, payload)

    monkeypatch.setattr(leaderboard, "place_attempt", flaky)
    result = await submitted(ctx, student, quiz_id, RIGHT)
    kinds = sorted(row["kind"] for row in await stored_rows(ctx, student.user_id))
    assert kinds == ["leaderboard.changed", "quiz.attempted"]
    changes = await every_change(ctx, student.user_id, limit=50)
    assert [(c.kind, c.subject_id) for c in changes] == [
        ("leaderboard.changed", result["attemptId"]), ("quiz.attempted", result["attemptId"]),
    ]

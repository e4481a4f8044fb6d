"""What follows a stored quiz attempt (`quizzes.py` `submit_attempt`): before the answer,
what the student reads next (the leaderboard, the dashboard, a completion's own effects);
after it, off the request's path, the `quiz.graded` push, the change-log row and the push of
the student's notification (the attempt's own statement wrote the notification).

Those three are parked with the attempt, in its own statement, as one `pending_effects` row
due a minute later (`graded_effect`): the request runs them itself right after the answer
and then removes the row, and if the process dies before it has, the drain timer
(`outbox.drain_parked`) runs them from the row. Each is idempotent (the change-log row has
the attempt's key, and a second push names the same attempt and notification), so a run the
request began and the drain repeats loses and doubles nothing. Within a run each effect runs
now or is queued for retry by the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from shared_code.adapters.postgres import pending_effects as pending_sql
from shared_code.adapters.postgres import quizzes_attempts as attempts_sql
from shared_code.adapters.postgres.pool import Database
from shared_code.adapters.postgres.quizzes import QuizRow
from shared_code.auth import Principal
from shared_code.context import AppContext, Effect
from shared_code.domain import notifications as texts
from shared_code.platform import outbox
from shared_code.services.notifications import delivery as notify
from shared_code.services.progress import changelog, completion, dashboard, leaderboard

logger = logging.getLogger("lectern.quizzes")

# The lesson rows a passing attempt completed and the course progress after them.
Completed = tuple[list[dict[str, Any]], float] | None


async def own_views(
    ctx: AppContext, principal: Principal, quiz: QuizRow, result: dict[str, Any], previous_best: int | None,
    completed: Completed,
) -> dict[str, int] | None:
    """Before answering: what the student reads next must show the attempt (read your own
    writes): the leaderboard moved, then the dashboard (which shows the rank) retired, and a
    completion's own effects. Each runs now or is queued for retry by the outbox.

    Returns the attempt's move on the board for its own change-log row (`run_graded`), or
    None when there is none to add there: the attempt did not raise the student's best, or
    the board could not be moved now and the queued `leaderboard.record` logs it itself."""
    entry = {
        "courseId": str(quiz.course_id), "userId": principal.user_id, "name": principal.name, "quizId": str(quiz.id),
        "score": result["score"], "attemptId": result["attemptId"], "at": result["createdAt"],
        "previousBest": previous_best,
    }
    change: dict[str, int] | None = None
    try:
        change = leaderboard.points_change(entry, await leaderboard.place_attempt(ctx, entry))
    except Exception as exc:  # noqa: BLE001 - Redis failed: the whole effect, with its own log row, is retried
        logger.warning("an attempt's leaderboard move failed, handed to the outbox: %s", type(exc).__name__)
        try:
            await outbox.perform(ctx, "leaderboard.record", entry)
        except Exception as lost:  # noqa: BLE001 - the attempt is committed: answer it, say what was lost
            logger.error("the leaderboard effect of an attempt could neither run nor be queued: %s", lost)
    finally:
        await dashboard.invalidate_dashboard(ctx, principal.user_id)
    if completed is not None:
        await completion.announce(ctx, *completed)
    return change


GRADED_EFFECT = "quiz.graded.effects"
# How long the parked row waits for its request to run it before the drain timer may.
PARKED_GRACE_SECONDS = 60


def graded_effect(principal: Principal, quiz: QuizRow, response: dict[str, Any]) -> dict[str, Any]:
    """The parked effect's payload, from the attempt as graded (the statement adds
    `attemptNo` and `notificationId`; the name is for placing the attempt on the board
    again, should the drain run it)."""
    return {
        "userId": principal.user_id, "name": principal.name, "quizId": str(quiz.id), "courseId": str(quiz.course_id),
        "title": quiz.title,
        "attemptId": response["attemptId"], "score": response["score"], "maxScore": response["maxScore"],
        "at": response["createdAt"],
    }


async def run_graded(ctx: AppContext, payload: dict[str, Any]) -> None:
    """The `quiz.graded` push, the change-log row and the notification's push (the attempt's
    statement wrote the notification itself), each run now or queued for retry by the
    outbox; raises only when one could be neither (the parked row then stays for the
    drain). The outbox effect `quiz.graded.effects`.

    The change-log row also carries the attempt's move on the board (read back as its own
    `leaderboard.changed`, `changelog.read_changes`): one Table write where there were two.
    The request hands that move in (`leaderboard`, None when there is none to log here); a
    run from the parked row (the request's process died) places the attempt again, which
    changes nothing on the board, to learn it."""
    user_id, course_id, quiz_id, attempt_id = payload["userId"], payload["courseId"], payload["quizId"], payload["attemptId"]
    at = datetime.fromisoformat(payload["at"])
    board = payload["leaderboard"] if "leaderboard" in payload else await _board_again(ctx, payload)
    message = {
        "type": "quiz.graded", "quizId": quiz_id, "courseId": course_id, "attemptId": attempt_id,
        "attemptNo": payload["attemptNo"], "score": payload["score"], "maxScore": payload["maxScore"], "at": payload["at"],
    }
    details: dict[str, Any] = {
        "quizId": quiz_id, "attemptNo": payload["attemptNo"], "score": payload["score"], "maxScore": payload["maxScore"],
    }
    if board is not None:
        details[changelog.LEADERBOARD_PART] = board
    work = [
        outbox.perform(ctx, "pubsub.user", {"userId": user_id, "message": message}),
        changelog.record(
            ctx, user_id, "quiz.attempted", at=at, course_id=course_id, subject_id=attempt_id, details=details,
        ),
    ]
    draft = graded_notification(payload)
    if "notificationId" not in payload:  # parked before attempts wrote their notification
        work.append(outbox.perform(ctx, notify.USER_EFFECT, {"userId": user_id, "draft": draft.payload()}))
    elif payload["notificationId"] is not None:  # None: the row existed already, and was pushed then
        pushed = {"userId": user_id, "message": notify.drafted_message(draft, payload["notificationId"])}
        work.append(outbox.perform(ctx, "pubsub.user", pushed))
    outcomes = await asyncio.gather(*work, return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        raise failures[0]


def graded_notification(effect: dict[str, Any]) -> texts.Draft:
    """The student's `quiz.graded` notification, from the parked effect's payload
    (`graded_effect`): the attempt's statement writes it, and its push is built from it."""
    return texts.quiz_graded(
        effect["attemptId"], effect["quizId"], effect["courseId"], effect["title"], effect["score"], effect["maxScore"],
        datetime.fromisoformat(effect["at"]),
    )


async def _board_again(ctx: AppContext, payload: dict[str, Any]) -> dict[str, int] | None:
    """The attempt's move on the board, for a run without its request: the student's best
    before it from PostgreSQL (every earlier attempt is committed), the points from placing
    it again."""
    standing = await leaderboard.still_standing(ctx, payload)
    if standing is None:
        return None  # its quiz was deleted meanwhile: its points must not come back onto the board
    async with ctx.db.connection() as conn:
        previous_best = await attempts_sql.best_before(conn, payload["quizId"], payload["userId"], payload["attemptNo"])
    entry = {**standing, "previousBest": previous_best}
    return leaderboard.points_change(entry, await leaderboard.place_attempt(ctx, entry))


async def after_commit(ctx: AppContext, payload: dict[str, Any]) -> None:
    """The request's own run of its attempt's parked effect, then the row goes. A run that
    could not arrange every effect leaves the row to the drain timer."""
    try:
        await run_graded(ctx, payload)
    except Exception as exc:  # noqa: BLE001 - the parked row keeps the effects for the drain
        logger.error("an attempt's effects could not all be arranged, left to the drain: %s", exc)
        return
    try:
        await ctx.parked_removals.submit(payload["attemptId"])
    except Exception as exc:  # noqa: BLE001 - the drain runs the effects once more; each is idempotent
        logger.warning("an attempt's parked effects stayed after they ran: %s", type(exc).__name__)
    logger.info("quiz graded", extra={"quizId": payload["quizId"], "userId": payload["userId"], "score": payload["score"]})


async def remove_parked(db: Database, attempt_ids: list[str]) -> list[None | Exception]:
    """What `ctx.parked_removals` sends: the rows of the effects that ran, in one statement."""
    async with db.connection() as conn:
        await pending_sql.done_all(conn, attempt_ids)
    return [None] * len(attempt_ids)


def effects() -> dict[str, Effect]:
    """This module's outbox effects by kind."""
    return {GRADED_EFFECT: run_graded}

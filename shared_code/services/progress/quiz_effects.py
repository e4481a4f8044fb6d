"""What follows a stored quiz attempt (`quizzes.py` `submit_attempt`): before the answer,
what the student reads next (the leaderboard, the dashboard, a completion's own effects);
after it, off the request's path, the `quiz.graded` push, the change-log row and the
notification. Each effect runs now or is queued for retry by the outbox."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from shared_code.adapters.postgres.quizzes import QuizRow
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain import notifications as texts
from shared_code.platform import outbox
from shared_code.services.notifications import delivery as notify
from shared_code.services.progress import changelog, completion, dashboard

logger = logging.getLogger("lectern.quizzes")

# The lesson rows a passing attempt completed and the course progress after them.
Completed = tuple[list[dict[str, Any]], float] | None


async def own_views(
    ctx: AppContext, principal: Principal, quiz: QuizRow, result: dict[str, Any], previous_best: int | None,
    completed: Completed,
) -> None:
    """Before answering: what the student reads next must show the attempt (read your own
    writes): the leaderboard moved, then the dashboard (which shows the rank) retired, and a
    completion's own effects. Each runs now or is queued for retry by the outbox."""
    user_id, course_id = principal.user_id, str(quiz.course_id)
    try:
        await outbox.perform(
            ctx,
            "leaderboard.record",
            {
                "courseId": course_id,
                "userId": user_id,
                "name": principal.name,
                "quizId": str(quiz.id),
                "score": result["score"],
                "attemptId": result["attemptId"],
                "at": result["createdAt"],
                "previousBest": previous_best,
            },
        )
    except Exception as exc:  # noqa: BLE001 - the attempt is committed: answer it, say what was lost
        logger.error("the leaderboard effect of an attempt could neither run nor be queued: %s", exc)
    finally:
        await dashboard.invalidate_dashboard(ctx, user_id)
    if completed is not None:
        await completion.announce(ctx, *completed)


async def after_commit(ctx: AppContext, principal: Principal, quiz: QuizRow, result: dict[str, Any]) -> None:
    """Off the request's path, once the attempt is committed: the `quiz.graded` push, the
    change-log row and the notification, each run now or queued for retry by the outbox."""
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
        return_exceptions=True,
    )
    for failure in (o for o in outcomes if isinstance(o, BaseException)):
        logger.error("an attempt effect could neither run nor be queued: %s", failure)
    notify.notify_user(
        ctx, user_id,
        texts.quiz_graded(attempt_id, quiz_id, course_id, quiz.title, result["score"], result["maxScore"], datetime.fromisoformat(at)),
    )
    logger.info("quiz graded", extra={"quizId": quiz_id, "userId": user_id, "score": result["score"]})

"""What every path that records progress shares: the enrolment check, the completion
written through to PostgreSQL, the course fraction cached beside the snapshots, and what
follows a committed completion (change log, push, dashboard).

The heartbeat (`watch.py`), the offline sync (`sync.py`) and the flush (`flush.py`) each
reach a completion their own way; what happens then is written once, here.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from shared_code.adapters.postgres import progress as progress_sql
from shared_code.adapters.postgres.progress import ProgressWrite
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.watch import course_fraction
from shared_code.errors import Forbidden, LecternError, NotFound
from shared_code.platform import access as access_service
from shared_code.platform import outbox
from shared_code.services.progress import changelog, dashboard

logger = logging.getLogger("lectern.progress")


async def enrolled_lesson(ctx: AppContext, principal: Principal, lesson_id: str) -> tuple[dict[str, Any], str]:
    """The lesson and its course id, when the caller is a student enrolled in that course."""
    lesson, access = await access_service.lesson_access(ctx, principal, lesson_id)
    if access.relation != "enrolled" or not principal.has_role("student"):
        raise Forbidden("Only students enrolled in this course record progress.")
    return lesson, access.course_id


async def cached_course_progress(ctx: AppContext, user_id: str, course_id: str) -> float:
    async with ctx.db.connection() as conn:
        completed, total = await progress_sql.course_progress(conn, user_id, course_id)
    value = course_fraction(completed, total)
    await remember_course_progress(ctx, user_id, course_id, value)
    return value


async def remember_course_progress(ctx: AppContext, user_id: str, course_id: str, value: float) -> None:
    if not ctx.progress_breaker.closed:
        return
    try:
        await ctx.progress_store.set_course_progress(user_id, course_id, value)
    except RedisError as exc:
        ctx.progress_breaker.trip("course progress", exc)


async def complete(ctx: AppContext, write: ProgressWrite, course_id: str) -> float:
    """Writes a completion through to PostgreSQL; the course progress after it."""
    async with ctx.db.transaction() as conn:
        rows = await progress_sql.upsert_many(conn, [write], return_all=True)
        if not rows:
            raise NotFound("No such lesson.")
        completed, total = await progress_sql.course_progress(conn, write.user_id, course_id)
    value = course_fraction(completed, total)
    if rows[0]["newly_completed"]:
        await after_completion(ctx, rows[0], value)
    await remember_course_progress(ctx, write.user_id, course_id, value)
    return value


async def after_completion(ctx: AppContext, row: dict[str, Any], course_progress: float) -> None:
    """What follows a committed completion: the change log, the push, the dashboard.

    Each effect runs now or is queued for retry by the outbox; a failure of both is logged
    and does not undo the completion, which is already safe in PostgreSQL.
    """
    user_id, lesson_id, course_id = str(row["user_id"]), str(row["lesson_id"]), str(row["course_id"])
    at: datetime = row["completed_at"]
    message = {
        "type": "progress.updated",
        "lessonId": lesson_id,
        "courseId": course_id,
        "completed": True,
        "courseProgress": course_progress,
        "at": at.astimezone(UTC).isoformat(),
    }
    results = await asyncio.gather(
        changelog.record(
            ctx,
            user_id,
            "progress.completed",
            at=at,
            course_id=course_id,
            subject_id=lesson_id,
            details={"watchedSeconds": float(row["watched_seconds"]), "courseProgress": course_progress},
        ),
        outbox.perform(ctx, "pubsub.user", {"userId": user_id, "message": message}),
        dashboard.invalidate_dashboard(ctx, user_id),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            logger.error("a completion effect could neither run nor be queued: %s", result)
    logger.info("lesson completed", extra={"userId": user_id, "lessonId": lesson_id, "courseId": course_id})


async def late_completion(ctx: AppContext, row: dict[str, Any]) -> None:
    try:
        value = await cached_course_progress(ctx, str(row["user_id"]), str(row["course_id"]))
        await after_completion(ctx, row, value)
    except LecternError as exc:
        logger.warning("late completion effects failed: %s", exc)

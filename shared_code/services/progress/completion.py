"""What every path that records progress shares: the enrolment check, the completion
written through to PostgreSQL, the course fraction cached beside the snapshots, and what
follows a committed completion (change log, push, dashboard).

The heartbeat (`watch.py`), the offline sync (`sync.py`) and the flush (`flush.py`) each
reach a completion their own way; what happens then is written once, here.

Lessons complete by their kind: a video by earned watch time (those paths), a quiz lesson
when the student's best attempt reaches the pass mark of its quiz (`quizzes.py`, in the
attempt's transaction), a document lesson when its material is downloaded by an enrolled
student (`complete_documents`). The last two are written with `finished`, into the same
table the watch paths write, so course progress, the dashboard, analytics and the
certificate count every kind alike. Every committed completion then asks for the
certificate (`services/certificates`), through the outbox, from whichever path it came;
the certificate's own statement decides whether the course is complete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from shared_code.adapters.postgres import lessons as lessons_sql
from shared_code.adapters.postgres import progress as progress_sql
from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.progress import ProgressWrite
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.watch import course_fraction
from shared_code.errors import Forbidden, LecternError, NotFound
from shared_code.platform import access as access_service
from shared_code.platform import outbox
from shared_code.platform.access import CourseAccess
from shared_code.services.certificates import issue as certificates
from shared_code.services.progress import changelog, dashboard

logger = logging.getLogger("lectern.progress")


async def enrolled_lesson(ctx: AppContext, principal: Principal, lesson_id: str) -> tuple[dict[str, Any], str]:
    """The lesson and its course id, when the caller is a student enrolled in that course."""
    lesson, access = await access_service.lesson_access(ctx, principal, lesson_id)
    if access.relation != "enrolled" or not principal.has_role("student"):
        raise Forbidden("Only students enrolled in this course record progress.")
    return lesson, access.course_id


def not_watched(lesson: dict[str, Any]) -> str | None:
    """Why watch time cannot be recorded for this lesson (it completes another way), or None."""
    kind = lesson.get("kind")
    if kind == "quiz":
        return "A quiz lesson completes when its quiz is passed, not by heartbeats."
    if kind == "document":
        return "A document lesson completes when its material is opened, not by heartbeats."
    return None


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


def finished(user_id: str, lesson_id: str) -> ProgressWrite:
    """The row that completes a lesson that is not watched (a quiz or a document lesson)."""
    return ProgressWrite(
        user_id=user_id,
        lesson_id=lesson_id,
        position_seconds=0.0,
        watched_seconds=0.0,
        duration_seconds=0.0,
        completed=True,
        heard_at_ms=int(time.time() * 1000),
        client_ms=None,
    )


async def complete_in(conn: Conn, user_id: str, lesson_ids: list[str], course_id: str) -> tuple[list[dict[str, Any]], float]:
    """Completes these lessons inside the caller's transaction: the rows completed now, and
    the course progress after them. Hand both to `announce` once the transaction commits."""
    rows = await progress_sql.upsert_many(conn, [finished(user_id, lesson_id) for lesson_id in sorted(lesson_ids)])
    completed, total = await progress_sql.course_progress(conn, user_id, course_id)
    return rows, course_fraction(completed, total)


async def announce(ctx: AppContext, rows: list[dict[str, Any]], course_progress: float) -> None:
    """`after_completion` for each row completed now; the course progress remembered."""
    for row in rows:
        if row["newly_completed"]:
            await after_completion(ctx, row, course_progress)
    if rows:
        await remember_course_progress(ctx, str(rows[0]["user_id"]), str(rows[0]["course_id"]), course_progress)


async def complete_documents(ctx: AppContext, principal: Principal, material_id: str, access: CourseAccess) -> None:
    """An enrolled student opened a material: the document lessons that name it are complete.

    The caller has checked the download (a published material of this course, a member of
    it: `access`); only a student enrolled in the course completes anything, never its tutor
    or an admin.
    """
    if access.relation != "enrolled" or not principal.has_role("student"):
        return
    async with ctx.db.transaction() as conn:
        lesson_ids = await lessons_sql.document_lessons_of(conn, material_id, access.course_id)
        if not lesson_ids:
            return
        rows, value = await complete_in(conn, principal.user_id, lesson_ids, access.course_id)
    await announce(ctx, rows, value)


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
        certificates.request(ctx, user_id, course_id),
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

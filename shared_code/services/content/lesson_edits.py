"""Tutor tools for a course's lessons: putting them in a new order, and deleting one.

Both run in one transaction under the course row's lock, the same lock `add_lesson` takes,
so positions stay dense (0..n-1) and unique whatever runs at the same time; both replace the
course's cache generation before answering, so the course detail and lesson reads served
from Redis show the new order (or the lesson gone) at once; both leave an audit row.

What a delete takes with it, and why. Progress rows, the per-lesson counters, the lesson's
quizzes with their attempts and best scores go with the lesson (their foreign keys cascade).
They describe work on content that no longer exists: a student cannot finish or retake it,
and keeping the rows would have every count (course progress, the dashboard, the roster,
analytics, the leaderboard) learn to skip them, the kind of filter that is forgotten once
and then counts a lesson that is not there. So the course's progress becomes "completed of
the lessons that exist", for every student at once, with no query changed. What is not
lost: the audit row keeps the lesson as it was and how many progress rows, completions,
quizzes and attempts went with it, and each student's completions and grades stay in the
progress change log (Azure Tables), which is history, not a count.

After the commit, what Redis derived from the old rows is retired: the course's leaderboard
is dropped (the outbox retries the drop if Redis fails; the next read rebuilds it without
the quiz), and every enrolled student's cached course fraction and dashboard are retired in
batches, so the next heartbeat or dashboard read counts the lessons that remain.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from shared_code.adapters.postgres import courses as courses_sql
from shared_code.adapters.postgres import enrollments as enrollments_sql
from shared_code.adapters.postgres import lessons as lessons_sql
from shared_code.adapters.postgres.lessons import Dependents
from shared_code.adapters.postgres.rows import values
from shared_code.adapters.redis import dashboard as dashboard_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.lesson_order import order_errors
from shared_code.errors import Forbidden, Invalid, NotFound
from shared_code.models.content import CourseDetail, LessonOrder
from shared_code.platform import audit, content_cache, outbox
from shared_code.platform.access import CourseAccess, lesson_access, require_manager
from shared_code.services.content.courses import get_course, lesson_out

logger = logging.getLogger("lectern.content.lessons")

# Students whose cached course fraction and dashboard are retired per Redis round trip.
RETIRE_BATCH = 1000


async def reorder_lessons(
    ctx: AppContext, principal: Principal, course_id: str, body: LessonOrder, *, access: CourseAccess | None = None
) -> CourseDetail:
    """Puts the course's lessons in the order given: exactly the course's lessons, each once (422 otherwise).

    Answers with the course as a reader now gets it (through the cache), lessons in the new order."""
    if access is None:  # the endpoint hands in what its relation check found
        await require_manager(ctx, principal, course_id)
    wanted = [str(i) for i in body.lesson_ids]
    async with ctx.db.transaction() as conn:
        if await courses_sql.lock_course(conn, course_id) is None:
            raise NotFound("No such course.")
        current = await lessons_sql.lesson_ids(conn, course_id)
        errors = order_errors(wanted, current)
        if errors:
            raise Invalid("The order must name every lesson of the course exactly once.", errors=errors)
        if wanted != current:
            await lessons_sql.set_order(conn, course_id, wanted)
    if wanted != current:
        await content_cache.course_changed(ctx, course_id)
        await audit.record(
            ctx, principal, "lesson.reordered", f"course/{course_id}",
            {"courseId": course_id, "before": {"lessonIds": current}, "after": {"lessonIds": wanted}},
        )
    return await get_course(ctx, principal, course_id)


async def delete_lesson(
    ctx: AppContext, principal: Principal, lesson_id: str, *, found: tuple[dict[str, Any], CourseAccess] | None = None
) -> None:
    """Deletes a lesson with its progress and quizzes (see the module's note), closing the gap in positions."""
    _, access = found or await lesson_access(ctx, principal, lesson_id)
    if not access.can_manage:
        raise Forbidden("Only the course's tutor and admins may delete its lessons.")
    course_id = access.course_id
    async with ctx.db.transaction() as conn:
        if await courses_sql.lock_course(conn, course_id) is None:
            raise NotFound("No such lesson.")
        count = await lessons_sql.count_lessons(conn, course_id)
        taken = await lessons_sql.dependents(conn, lesson_id)
        row = await lessons_sql.delete_lesson(conn, lesson_id)
        if row is None:
            raise NotFound("No such lesson.")
        await lessons_sql.close_gap(conn, course_id, row.position, count)
    await content_cache.course_changed(ctx, course_id)
    lesson = lesson_out(values(row), show_asset=True).model_dump(mode="json", by_alias=True)
    await audit.record(
        ctx, principal, "lesson.deleted", f"lesson/{lesson_id}",
        {"courseId": course_id, "before": lesson, "after": None, "removed": _removed(taken)},
    )
    if taken.quizzes:
        await outbox.perform(ctx, "leaderboard.reset", {"courseId": course_id})
    await _retire_student_totals(ctx, course_id)


def _removed(taken: Dependents) -> dict[str, int]:
    return {
        "progressRows": taken.progress_rows,
        "completions": taken.completions,
        "quizzes": taken.quizzes,
        "quizAttempts": taken.quiz_attempts,
    }


async def _retire_student_totals(ctx: AppContext, course_id: str) -> None:
    """Every enrolled student's cached course fraction and dashboard, in batches.

    Best effort: the fraction's and the snapshot's short TTLs bound what a Redis failure
    leaves behind, and PostgreSQL (what every count is computed from) is already right.
    """
    after: str | None = None
    try:
        while True:
            async with ctx.db.connection() as conn:
                batch = await enrollments_sql.active_student_ids(conn, course_id, after=after, limit=RETIRE_BATCH)
            if not batch:
                return
            await ctx.progress_store.forget_course_progress(course_id, batch)
            await dashboard_redis.invalidate_many(ctx.redis, batch)
            after = batch[-1]
    except RedisError as exc:
        logger.warning("cached course progress of %s left to expire: %s", course_id, type(exc).__name__)

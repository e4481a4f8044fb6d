"""Course analytics for its tutor and admins: how far students get through each lesson,
how quiz scores spread, and who came to each live class.

The three parts are independent queries, run at once on separate pooled connections.
Attendance comes from the live-class area's attendance log in Azure Tables
(`attendance.attendance_summary`); a class whose log cannot be read is still listed, with
its attendance unknown, rather than failing the whole report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from shared_code.adapters.postgres import analytics as analytics_sql
from shared_code.adapters.postgres.pool import Conn
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.ranking import BUCKETS, bucket_of, completion_rate
from shared_code.models.progress import ClassAttendance, CourseAnalytics, LessonFunnel, QuizDistribution, ScoreBucket
from shared_code.platform import access as access_service
from shared_code.platform.access import CourseAccess
from shared_code.services.live import attendance

logger = logging.getLogger("lectern.analytics")

T = TypeVar("T")

# Attendance per class: the latest classes that were due, and the next few scheduled.
MAX_CLASSES = 50
UPCOMING_CLASSES = 5
ATTENDANCE_PARALLEL = 8


def distribution(quizzes: list[dict[str, Any]], score_counts: list[dict[str, Any]]) -> list[QuizDistribution]:
    """Every quiz with all ten buckets, empty ones included, so charts need no gap filling."""
    max_scores = {str(q["id"]): int(q["max_score"]) for q in quizzes}
    counts: dict[str, list[int]] = {quiz_id: [0] * BUCKETS for quiz_id in max_scores}
    for row in score_counts:
        quiz_id = str(row["quiz_id"])
        if quiz_id in counts:
            counts[quiz_id][bucket_of(int(row["best"]), max_scores[quiz_id])] += int(row["students"])
    width = 100 // BUCKETS
    return [
        QuizDistribution(
            quiz_id=q["id"],
            title=q["title"],
            max_score=q["max_score"],
            students=sum(counts[str(q["id"])]),
            buckets=[
                ScoreBucket(from_percent=i * width, to_percent=(i + 1) * width, students=n)
                for i, n in enumerate(counts[str(q["id"])])
            ],
        )
        for q in quizzes
    ]


async def course_analytics(
    ctx: AppContext, principal: Principal, course_id: str, *, access: CourseAccess | None = None
) -> CourseAnalytics:
    if access is None:
        await access_service.require_manager(ctx, principal, course_id)

    async def on_own_connection(read: Callable[[Conn], Awaitable[T]]) -> T:
        async with ctx.db.connection() as conn:
            return await read(conn)

    enrolled, funnel, quizzes, buckets, classes = await asyncio.gather(
        on_own_connection(lambda c: analytics_sql.enrolled_students(c, course_id)),
        on_own_connection(lambda c: analytics_sql.lesson_funnel(c, course_id)),
        on_own_connection(lambda c: analytics_sql.quizzes_of(c, course_id)),
        on_own_connection(lambda c: analytics_sql.score_counts(c, course_id)),
        on_own_connection(lambda c: analytics_sql.classes_of(c, course_id, MAX_CLASSES, UPCOMING_CLASSES)),
    )
    return CourseAnalytics(
        course_id=course_id,
        enrolled_students=enrolled,
        lessons=[
            LessonFunnel(
                lesson_id=r["id"],
                title=r["title"],
                kind=r["kind"],
                position=r["position"],
                started=int(r["started"]),
                completed=int(r["completed"]),
                completion_rate=completion_rate(int(r["started"]), int(r["completed"])),
            )
            for r in funnel
        ],
        quizzes=distribution(quizzes, buckets),
        classes=await _attendance(ctx, classes),
        generated_at=datetime.now(UTC),
    )


async def _attendance(ctx: AppContext, classes: list[dict[str, Any]]) -> list[ClassAttendance]:
    gate = asyncio.Semaphore(ATTENDANCE_PARALLEL)

    async def one(row: dict[str, Any]) -> ClassAttendance:
        attendees: int | None = None
        average: float | None = None
        try:
            async with gate:
                report = await attendance.attendance_summary(ctx, str(row["id"]))
            attendees = len(report.students)
            if report.students:
                average = round(sum(s.minutes_present for s in report.students) / attendees, 1)
        except Exception as exc:  # noqa: BLE001 - one unreadable log must not sink the report
            logger.warning("attendance of class %s unavailable: %s", row["id"], type(exc).__name__)
        return ClassAttendance(
            class_id=row["id"],
            title=row["title"],
            scheduled_at=row["scheduled_at"],
            status=row["status"],
            attendees=attendees,
            average_minutes=average,
        )

    return list(await asyncio.gather(*(one(r) for r in classes)))

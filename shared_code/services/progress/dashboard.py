"""The student's portfolio: per enrolled course, progress, recent quiz results, leaderboard
standing and upcoming live classes.

Served from a Redis snapshot that every change affecting it invalidates (a completion, a
quiz attempt, an enrolment: their services call `invalidate_dashboard`). What nobody
invalidates (a class scheduled, another student overtaking) is covered by the snapshot's
short TTL. With Redis down the dashboard is built from PostgreSQL on every read.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from redis.exceptions import RedisError

from shared_code.adapters.postgres import certificates as certificates_sql
from shared_code.adapters.postgres import progress as progress_sql
from shared_code.adapters.redis import dashboard as dashboard_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.models.progress import Dashboard, DashboardCourse, QuizScore, UpcomingClass
from shared_code.platform import outbox
from shared_code.services.progress import leaderboard

logger = logging.getLogger("lectern.dashboard")

MAX_COURSES = 100
RECENT_RESULTS_PER_COURSE = 5
CLASSES_PER_COURSE = 5
CLASSES_SINCE_HOURS = 3  # a class that started up to three hours ago may still be running


async def invalidate_dashboard(ctx: AppContext, user_id: str) -> None:
    """Call after committing anything that changes what the user's dashboard shows.

    Never raises: when Redis cannot be reached the invalidation is queued, and the
    snapshot's short TTL bounds staleness even if that fails too.
    """
    try:
        await dashboard_redis.invalidate(ctx.redis, user_id)
        return
    except RedisError as exc:
        reason = f"{type(exc).__name__}: {exc}"[:500]
    try:
        await outbox.enqueue(ctx, "dashboard.invalidate", {"userId": user_id}, reason=reason)
    except Exception as exc:  # noqa: BLE001 - the TTL is the last line of defence
        logger.warning("dashboard invalidation lost for %s: %s", user_id, type(exc).__name__)


async def invalidate_all_dashboards(ctx: AppContext) -> None:
    """Call after committing a change that affects every dashboard that lists a course (a
    takedown or a restore): one key retires every snapshot; queued when Redis is down."""
    await outbox.perform(ctx, "dashboard.invalidate_all", {})


async def get_dashboard(ctx: AppContext, principal: Principal) -> Dashboard:
    user_id = principal.user_id
    version: str | None
    try:
        version, cached = await dashboard_redis.read(ctx.redis, user_id)
    except RedisError:
        version, cached = None, None
    if cached is not None:
        return Dashboard.model_validate(cached)
    built = await build_dashboard(ctx, user_id)
    if version is not None:
        try:
            await dashboard_redis.store(ctx.redis, user_id, version, built.model_dump(mode="json", by_alias=True))
        except RedisError:
            pass
    return built


async def build_dashboard(ctx: AppContext, user_id: str) -> Dashboard:
    """The dashboard from PostgreSQL (and the leaderboards), without any snapshot."""
    async with ctx.db.connection() as conn:
        courses = await progress_sql.enrolled_courses(conn, user_id, MAX_COURSES)
        course_ids = [str(c["id"]) for c in courses]
        attempts = await progress_sql.recent_attempts(conn, user_id, course_ids, RECENT_RESULTS_PER_COURSE) if course_ids else []
        classes = (
            await progress_sql.upcoming_classes(conn, course_ids, CLASSES_SINCE_HOURS, CLASSES_PER_COURSE)
            if course_ids
            else []
        )
        codes = await certificates_sql.codes_by_course(conn, user_id, course_ids)
    standings = await leaderboard.standings(ctx, course_ids, user_id)
    results: dict[str, list[QuizScore]] = {}
    for a in attempts:
        results.setdefault(str(a["course_id"]), []).append(
            QuizScore(
                quiz_id=a["quiz_id"],
                title=a["title"],
                attempt_id=a["attempt_id"],
                score=a["score"],
                max_score=a["max_score"],
                at=a["created_at"],
            )
        )
    upcoming: dict[str, list[UpcomingClass]] = {}
    for c in classes:
        upcoming.setdefault(str(c["course_id"]), []).append(
            UpcomingClass(id=c["id"], title=c["title"], scheduled_at=c["scheduled_at"], status=c["status"])
        )
    out: list[DashboardCourse] = []
    for c in courses:
        course_id = str(c["id"])
        total, done = int(c["total_lessons"]), int(c["completed_lessons"])
        points, rank = standings.get(course_id, (0, None))
        out.append(
            DashboardCourse(
                course_id=course_id,
                title=c["title"],
                progress_percent=_percent(done, total),
                completed_lessons=min(done, total),
                total_lessons=total,
                recent_quiz_results=results.get(course_id, []),
                points=points,
                rank=rank,
                upcoming_classes=upcoming.get(course_id, []),
                certificate_code=codes.get(course_id),
            )
        )
    return Dashboard(user_id=user_id, generated_at=datetime.now(UTC), courses=out)


def _percent(done: int, total: int) -> float:
    return round(100.0 * min(done, total) / total, 1) if total > 0 else 0.0


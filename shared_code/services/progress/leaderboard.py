"""Course leaderboards: points are the sum of each student's best score per quiz.

The board lives in Redis (a sorted set fed by a best-per-quiz hash per student) and is
rebuilt from PostgreSQL with one query whenever it is missing: one process rebuilds under
a short lock while the others wait for it. Both recording an attempt and rebuilding only
ever raise a best score, so they converge whatever order they run in. With Redis down the
same answers come from SQL.

Ranking is competition ranking ("1224"): students with equal points share a rank and the
next rank skips. Among equal points the order is by user id, descending (the sorted set's
own order), so pages are stable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from shared_code.adapters.postgres import quizzes as quizzes_sql
from shared_code.adapters.postgres import quizzes_attempts as attempts_sql
from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.redis import leaderboard as board_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.ranking import competition_ranks
from shared_code.errors import ServiceUnavailable
from shared_code.models.progress import Leaderboard, Standing
from shared_code.platform import access as access_service
from shared_code.platform.access import CourseAccess
from shared_code.services.progress import changelog

logger = logging.getLogger("lectern.leaderboard")

WAIT_FOR_REBUILD_SECONDS = 3.0
POLL_SECONDS = 0.05


# --- the board in Redis ----------------------------------------------------------------
async def ensure_board(ctx: AppContext, course_id: str) -> bool:
    """True once the course's board is built (rebuilding it when missing)."""
    store = ctx.leaderboard_store
    if await store.is_ready(course_id):
        return True
    return await ctx.leaderboard_flights.run(f"board:{course_id}", lambda: _rebuild(ctx, course_id))


async def _rebuild(ctx: AppContext, course_id: str) -> bool:
    store = ctx.leaderboard_store
    token = await store.try_lock(course_id)
    if token is None:
        # Another process is rebuilding: wait for its result rather than query again.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_FOR_REBUILD_SECONDS
        while loop.time() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            if await store.is_ready(course_id):
                return True
        return False
    try:
        async with ctx.db.connection() as conn:
            rows = await quizzes_sql.best_scores(conn, course_id)
        bests: dict[str, tuple[str, dict[str, int]]] = {}
        for row in rows:
            entry = bests.setdefault(str(row["user_id"]), (row["name"] or "", {}))
            entry[1][str(row["quiz_id"])] = int(row["best"])
        await store.merge(course_id, bests)
        await store.mark_ready(course_id)
        logger.info("leaderboard rebuilt", extra={"courseId": course_id, "students": len(bests)})
        return True
    finally:
        await store.unlock(course_id, token)


async def apply_attempt(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Puts a committed attempt on the board and logs the student's points change.

    Runs as the outbox effect `leaderboard.record`, so a Redis failure is retried later;
    repeating it changes nothing (a best score only rises, the log row has a fixed key).
    A request that placed the attempt itself (`place_attempt`) logs the change on the
    attempt's own change-log row instead (`quiz_effects.run_graded`). A retry that runs
    after the quiz was deleted (its attempts with it, the board reset) places nothing: the
    deleted quiz's points must not come back onto the rebuilt board.
    """
    entry = await still_standing(ctx, payload)
    if entry is None:
        logger.info("a queued attempt's quiz is gone; not placed", extra={"courseId": payload["courseId"]})
        return
    points = await place_attempt(ctx, entry)
    change = points_change(payload, points)
    if change is not None:
        await changelog.record(
            ctx,
            payload["userId"],
            "leaderboard.changed",
            at=datetime.fromisoformat(payload["at"]),
            course_id=payload["courseId"],
            subject_id=payload["attemptId"],
            details={"quizId": payload["quizId"], **change},
        )


async def still_standing(ctx: AppContext, payload: dict[str, Any]) -> dict[str, Any] | None:
    """A board move run later than its request (from the queue, or a parked attempt's
    effects), as PostgreSQL has it now: None when the attempt is gone (its quiz was deleted,
    the board reset), and the name the erasure left when the student was erased meanwhile."""
    async with ctx.db.connection() as conn:
        if not await attempts_sql.attempt_exists(conn, payload["attemptId"]):
            return None
        erased = await users_sql.erased_names(conn, [payload["userId"]])
    return {**payload, "name": erased[payload["userId"]]} if erased else payload


async def place_attempt(ctx: AppContext, payload: dict[str, Any]) -> int:
    """Puts a committed attempt on the board (building the board when missing); the
    student's points after it. Placing it again changes nothing."""
    course_id, user_id, quiz_id = payload["courseId"], payload["userId"], payload["quizId"]
    score, name = int(payload["score"]), payload.get("name") or ""
    store = ctx.leaderboard_store
    result = await store.record(course_id, user_id, name, quiz_id, score)
    if result is None:
        # Not built: the rebuild reads PostgreSQL, where this attempt is already committed.
        if not await ensure_board(ctx, course_id):
            raise ServiceUnavailable("The leaderboard is being rebuilt; retry shortly.", retry_after=2)
        result = await store.record(course_id, user_id, name, quiz_id, score)
        if result is None:
            raise ServiceUnavailable("The leaderboard vanished while being updated; retry shortly.", retry_after=2)
    return result[1]


def points_change(payload: dict[str, Any], points: int) -> dict[str, int] | None:
    """What the change log records of an attempt's move on the board: its points after it
    and what it gained over the student's best before it; None when it did not raise it."""
    score, previous_best = int(payload["score"]), payload.get("previousBest")
    if previous_best is not None and score <= int(previous_best):
        return None
    return {"points": points, "gained": score - int(previous_best or 0)}


# --- reading ---------------------------------------------------------------------------
async def get_leaderboard(
    ctx: AppContext, principal: Principal, course_id: str, limit: int, *, access: CourseAccess | None = None
) -> Leaderboard:
    """Top `limit` and the caller's own standing (enrolled, owning tutor, admin)."""
    access = access or await access_service.require_member(ctx, principal, course_id)
    is_student = access.relation == "enrolled"
    board: board_redis.Board | None = None
    try:
        store = ctx.leaderboard_store
        board = await store.read(course_id, principal.user_id, limit)
        if board is None and await ensure_board(ctx, course_id):
            board = await store.read(course_id, principal.user_id, limit)
    except RedisError as exc:
        logger.warning("leaderboard served from PostgreSQL: %s", type(exc).__name__)
    if board is None:
        return await _from_postgres(ctx, principal, course_id, limit, is_student)
    ranks = competition_ranks([points for _, _, points in board.top])
    items = [
        Standing(user_id=user_id, name=name or "", points=points, rank=rank)
        for (user_id, name, points), rank in zip(board.top, ranks, strict=False)
    ]
    me = None
    if is_student:
        me = Standing(
            user_id=principal.user_id,
            name=board.my_name or principal.name,
            points=board.my_points or 0,
            rank=board.ahead_of_me + 1,
        )
    return Leaderboard(course_id=course_id, items=items, me=me, participants=board.participants)


async def _from_postgres(ctx: AppContext, principal: Principal, course_id: str, limit: int, is_student: bool) -> Leaderboard:
    async with ctx.db.connection() as conn:
        top = await quizzes_sql.top_points(conn, course_id, limit)
        mine = await quizzes_sql.standing(conn, course_id, principal.user_id)
    items = [
        Standing(user_id=r["user_id"], name=r["name"] or "", points=int(r["points"]), rank=int(r["rank"])) for r in top
    ]
    me = None
    if is_student:
        me = Standing(
            user_id=principal.user_id, name=principal.name, points=int(mine["points"]), rank=int(mine["ahead"]) + 1
        )
    return Leaderboard(course_id=course_id, items=items, me=me, participants=int(mine["participants"]))


async def standings(ctx: AppContext, course_ids: Sequence[str], user_id: str) -> dict[str, tuple[int, int | None]]:
    """(points, rank) of one student in several courses; rank None when it cannot be read."""
    if not course_ids:
        return {}
    try:
        store = ctx.leaderboard_store
        found = await store.standings(course_ids, user_id)
        missing = [c for c, s in found.items() if s is None]
        if missing:
            for course_id in missing:
                await ensure_board(ctx, course_id)
            found.update(await store.standings(missing, user_id))
        return {
            c: ((s.points or 0), s.ahead + 1) if s is not None else (0, None) for c, s in found.items()
        }
    except RedisError as exc:
        logger.warning("leaderboard standings from PostgreSQL: %s", type(exc).__name__)
    out: dict[str, tuple[int, int | None]] = {}
    async with ctx.db.connection() as conn:
        for course_id in course_ids:
            row = await quizzes_sql.standing(conn, course_id, user_id)
            out[course_id] = (int(row["points"]), int(row["ahead"]) + 1)
    return out

"""Side effects that must happen but may fail: each kind is a small async function.

The outbox runs them now, and queues them for retry when they fail. This module holds
the plumbing's own effects; `shared_code/bootstrap.py` adds the effects services define
(the leaderboard's, attendance's) and hands the whole table to the outbox as `ctx.effects`,
so the outbox imports no service that writes through it. Every effect is
idempotent (upserts with fixed keys, pushes clients de-duplicate by `seq`), so a retry
that repeats one does no harm.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared_code.adapters.postgres import enrollments as enrollments_sql
from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.redis import cache as cache_redis
from shared_code.adapters.redis import dashboard as dashboard_redis
from shared_code.adapters.redis import enrollments as enrollment_redis
from shared_code.context import AppContext, Effect


async def table_upsert(ctx: AppContext, payload: dict[str, Any]) -> None:
    await ctx.tables.upsert(payload["table"], payload["entity"])


async def table_insert(ctx: AppContext, payload: dict[str, Any]) -> None:
    # Insert, never upsert: a retry finds its own row and leaves it as it was.
    await ctx.tables.insert(payload["table"], payload["entity"])


async def audit_insert(ctx: AppContext, payload: dict[str, Any]) -> None:
    """An audit row, inserted as `table.insert` does. One that waited in the queue may land
    after its actor was erased: it then carries the name the erasure left, as the
    erasure's rewrite of the trail would have made it."""
    entity = payload["entity"]
    actor = str(entity.get("actorId") or "")
    if actor and actor != "system":
        async with ctx.db.connection() as conn:
            erased = await users_sql.erased_names(conn, [actor])
        if actor in erased:
            entity = {**entity, "actorName": erased[actor]}
    await ctx.tables.insert(payload["table"], entity)


# A content-access row written this long after its moment is a retry (the first attempt
# runs in the request): only then can an erasure have come in between.
ACCESS_LATE_SECONDS = 5


async def access_upsert(ctx: AppContext, payload: dict[str, Any]) -> None:
    """A content-access row, upserted as `table.upsert` does. One written late (from the
    queue) may land after its reader was erased: its user agent, what identifies a person
    there, is then blanked as the erasure's rewrite of the log would have."""
    entity = payload["entity"]
    at = datetime.fromisoformat(str(entity.get("at") or datetime.now(UTC).isoformat()))
    late = datetime.now(UTC) - at > timedelta(seconds=ACCESS_LATE_SECONDS)
    if late and entity.get("userAgent") and entity.get("userId"):
        async with ctx.db.connection() as conn:
            if await users_sql.erased_names(conn, [str(entity["userId"])]):
                entity = {**entity, "userAgent": ""}
    await ctx.tables.upsert(payload["table"], entity)


async def pubsub_group(ctx: AppContext, payload: dict[str, Any]) -> None:
    # `filter` (optional): an OData filter on the group's connections, e.g. leaving one user out.
    await ctx.pubsub.send_to_group(payload["group"], payload["message"], where=payload.get("filter"))


async def pubsub_user(ctx: AppContext, payload: dict[str, Any]) -> None:
    await ctx.pubsub.send_to_user(payload["userId"], payload["message"])


async def pubsub_close_connection(ctx: AppContext, payload: dict[str, Any]) -> None:
    # Closing a connection that is already gone succeeds, so a repeat does no harm.
    await ctx.pubsub.close_connection(payload["connectionId"], payload["reason"])


async def cache_bump_course(ctx: AppContext, payload: dict[str, Any]) -> None:
    # A course write whose cache invalidation failed: replacing the generation later still
    # retires every entry read before the write.
    await cache_redis.bump_generation(ctx.redis, payload["courseId"])


async def cache_sync_membership(ctx: AppContext, payload: dict[str, Any]) -> None:
    """The cached membership write a request could not make (`cache.mark_enrolled` after a
    purchase, `cache.mark_not_enrolled` after a refund), made later: by then the enrolment
    may have changed again, and retries land in any order (a purchase's retry after the
    refund's write), so it writes what PostgreSQL says now, never what the request saw. A
    stale `1` would let a refunded student in for the week the mark lasts."""
    course_id, user_id = payload["courseId"], payload["userId"]
    async with ctx.db.connection() as conn:
        member = await enrollments_sql.is_enrolled(conn, course_id, user_id)
    if member:
        await enrollment_redis.mark_enrolled(ctx.redis, course_id, user_id)
    else:
        await enrollment_redis.mark_not_enrolled(ctx.redis, course_id, user_id)


async def dashboard_invalidate(ctx: AppContext, payload: dict[str, Any]) -> None:
    await dashboard_redis.invalidate(ctx.redis, payload["userId"])


async def leaderboard_reset(ctx: AppContext, payload: dict[str, Any]) -> None:
    # A quiz left the course: the board is dropped and rebuilt from PostgreSQL on next read.
    await ctx.leaderboard_store.reset(payload["courseId"])


async def dashboard_invalidate_all(ctx: AppContext, payload: dict[str, Any]) -> None:
    await dashboard_redis.invalidate_all(ctx.redis)


def plumbing() -> dict[str, Effect]:
    """The effects of this module by kind (the kinds are what the outbox queue stores)."""
    return {
        "table.upsert": table_upsert,
        "table.insert": table_insert,
        "audit.insert": audit_insert,
        "access.upsert": access_upsert,
        "pubsub.group": pubsub_group,
        "pubsub.user": pubsub_user,
        "pubsub.close_connection": pubsub_close_connection,
        "cache.bump_course": cache_bump_course,
        "cache.mark_enrolled": cache_sync_membership,
        "cache.mark_not_enrolled": cache_sync_membership,
        "dashboard.invalidate": dashboard_invalidate,
        "leaderboard.reset": leaderboard_reset,
        "dashboard.invalidate_all": dashboard_invalidate_all,
    }

"""Side effects that must happen but may fail: each kind is a small async function.

The outbox runs them now, and queues them for retry when they fail. Every effect is
idempotent (upserts with fixed keys, pushes clients de-duplicate by `seq`), so a retry
that repeats one does no harm.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from shared_code.adapters.redis import cache as cache_redis
from shared_code.adapters.redis import dashboard as dashboard_redis
from shared_code.adapters.redis import enrollments as enrollment_redis
from shared_code.context import AppContext

Effect = Callable[[AppContext, dict[str, Any]], Awaitable[None]]

EFFECTS: dict[str, Effect] = {}


def effect(kind: str) -> Callable[[Effect], Effect]:
    def register(fn: Effect) -> Effect:
        EFFECTS[kind] = fn
        return fn

    return register


@effect("table.upsert")
async def table_upsert(ctx: AppContext, payload: dict[str, Any]) -> None:
    await ctx.tables.upsert(payload["table"], payload["entity"])


@effect("table.insert")
async def table_insert(ctx: AppContext, payload: dict[str, Any]) -> None:
    # Insert, never upsert: a retry finds its own row and leaves it as it was.
    await ctx.tables.insert(payload["table"], payload["entity"])


@effect("pubsub.group")
async def pubsub_group(ctx: AppContext, payload: dict[str, Any]) -> None:
    await ctx.pubsub.send_to_group(payload["group"], payload["message"])


@effect("pubsub.user")
async def pubsub_user(ctx: AppContext, payload: dict[str, Any]) -> None:
    await ctx.pubsub.send_to_user(payload["userId"], payload["message"])


@effect("pubsub.close_connection")
async def pubsub_close_connection(ctx: AppContext, payload: dict[str, Any]) -> None:
    # Closing a connection that is already gone succeeds, so a repeat does no harm.
    await ctx.pubsub.close_connection(payload["connectionId"], payload["reason"])


@effect("cache.bump_course")
async def cache_bump_course(ctx: AppContext, payload: dict[str, Any]) -> None:
    # A course write whose cache invalidation failed: replacing the generation later still
    # retires every entry read before the write.
    await cache_redis.bump_generation(ctx.redis, payload["courseId"])


@effect("cache.mark_enrolled")
async def cache_mark_enrolled(ctx: AppContext, payload: dict[str, Any]) -> None:
    await enrollment_redis.mark_enrolled(ctx.redis, payload["courseId"], payload["userId"])


@effect("cache.mark_not_enrolled")
async def cache_mark_not_enrolled(ctx: AppContext, payload: dict[str, Any]) -> None:
    await enrollment_redis.mark_not_enrolled(ctx.redis, payload["courseId"], payload["userId"])


@effect("leaderboard.record")
async def leaderboard_record(ctx: AppContext, payload: dict[str, Any]) -> None:
    # Imported when it runs: the leaderboard service writes through the outbox, which
    # imports this module, so a module-level import would be circular.
    from shared_code.services import leaderboard

    await leaderboard.apply_attempt(ctx, payload)


@effect("dashboard.invalidate")
async def dashboard_invalidate(ctx: AppContext, payload: dict[str, Any]) -> None:
    await dashboard_redis.invalidate(ctx.redis, payload["userId"])

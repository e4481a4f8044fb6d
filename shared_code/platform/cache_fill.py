"""The content cache's Redis plumbing (`content_cache.py` says why it is shaped so): reads
through the process's batcher, calls guarded by the cache's breaker, generation-tagged
entries accepted or refused, and the fill a short cross-process lock guards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import MaxConnectionsError, RedisError

from shared_code.adapters.redis import cache as cache_redis
from shared_code.context import AppContext
from shared_code.domain.cache_entries import accept

FILL_LOCK_MS = 3000
WAIT_FOR_FILL_SECONDS = 1.0
POLL_SECONDS = 0.02


def cache_on(ctx: AppContext) -> bool:
    # While the breaker is open the cached paths still run: their Redis calls return at
    # once, and single flight keeps protecting PostgreSQL from a herd.
    return ctx.settings.cache_enabled


async def safely[T](ctx: AppContext, what: str, op: Callable[[], Awaitable[T]], default: T) -> T:
    """Runs a Redis operation; on failure trips the breaker and returns `default`."""
    state = ctx.content_cache
    if not state.breaker.closed:
        return default
    try:
        async with state.redis_slots:
            return await op()
    except MaxConnectionsError:
        return default  # this process is busy, Redis is not down: a miss, not an outage
    except RedisError as exc:
        state.breaker.trip(what, exc)
        return default


def valid(ctx: AppContext, raw: str | None, generation: str | None) -> Any | None:
    return accept(raw, generation, ctx.content_cache.parsed)


async def read(ctx: AppContext, names: list[str]) -> list[str | None]:
    """The hot path: batched with other requests' reads, so it needs no connection slot of its own."""
    state = ctx.content_cache
    if state.breaker.closed:
        try:
            return await state.reads.read(names)
        except MaxConnectionsError:
            pass
        except RedisError as exc:
            state.breaker.trip("cache read", exc)
    return [None] * len(names)


async def generation(ctx: AppContext, course_id: str, seen: str | None) -> str | None:
    """The generation to tag a fill with: the one read before the load, or a fresh one."""
    if seen is not None:
        return seen
    return await safely(ctx, "generation", lambda: cache_redis.current_generation(ctx.redis, course_id), None)


async def store(ctx: AppContext, entries: dict[str, str]) -> None:
    ttl = ctx.settings.cache_ttl_seconds
    await safely(ctx, "cache fill", lambda: cache_redis.store(ctx.redis, entries, ttl), None)


async def locked_fill[T](
    ctx: AppContext,
    lock_name: str,
    probe: Callable[[], Awaitable[T | None]],
    load: Callable[[], Awaitable[T]],
) -> T:
    """Loads under a short cross-process lock; without the lock, waits briefly for its holder's fill.

    `load` reads PostgreSQL and stores what it read before returning, so the lock is held
    until the entry is visible to the waiters.
    """
    unlocked: str | None = ""  # with Redis failing, fill without the lock
    token = await safely(ctx, "fill lock", lambda: cache_redis.try_lock(ctx.redis, lock_name, FILL_LOCK_MS), unlocked)
    if token is None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_FOR_FILL_SECONDS
        while loop.time() < deadline and ctx.content_cache.breaker.closed:
            await asyncio.sleep(POLL_SECONDS)
            hit = await probe()
            if hit is not None:
                return hit
    try:
        return await load()
    finally:
        if token:
            await safely(ctx, "fill unlock", lambda: cache_redis.release_lock(ctx.redis, lock_name, token), None)

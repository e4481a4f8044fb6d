"""The process-wide `redis.asyncio` client."""

from __future__ import annotations

import redis.asyncio as aioredis

from shared_code.settings import Settings

# Redis is the fast path: a stalled Redis must not stall requests for long.
SOCKET_TIMEOUT_SECONDS = 2.0


def create_redis(settings: Settings) -> aioredis.Redis:
    # A blocking pool: in a burst (a thousand students joining a class at once) a command
    # waits briefly for a free connection instead of failing with "Too many connections".
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
        max_connections=200,
        timeout=SOCKET_TIMEOUT_SECONDS,
    )
    return aioredis.Redis.from_pool(pool)

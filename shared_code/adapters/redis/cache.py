"""Redis operations of the content metadata cache: generations, entries, fill locks.

The service layer (`platform/content_cache.py`) decides what to cache and when; this
module only knows how each operation is spelled in Redis. Errors propagate as
`redis.exceptions.RedisError` so the caller can fall back to PostgreSQL.
"""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys, locks

GENERATION_TTL_SECONDS = 7 * 24 * 3600


def new_token() -> str:
    return secrets.token_hex(8)


async def get(r: aioredis.Redis, name: str) -> str | None:
    value = await r.get(name)
    return None if value is None else str(value)  # decoded by the client: already a str


async def store(r: aioredis.Redis, entries: dict[str, str], ttl_seconds: int) -> None:
    """Writes entries with a TTL in one pipelined round trip."""
    pipe = r.pipeline(transaction=False)
    for name, value in entries.items():
        pipe.set(name, value, ex=ttl_seconds)
    await pipe.execute()


async def current_generation(r: aioredis.Redis, course_id: str) -> str:
    """The course's generation, creating one when none exists (a fresh token matches no old entry)."""
    name = keys.content_generation(course_id)
    fresh = new_token()
    # SET NX then GET in one pipeline (rather than SET NX GET, which needs Redis 7):
    # whichever token is there afterwards is the current one.
    pipe = r.pipeline(transaction=False)
    pipe.set(name, fresh, ex=GENERATION_TTL_SECONDS, nx=True)
    pipe.get(name)
    _, current = await pipe.execute()
    return current if current is not None else fresh


async def bump_generation(r: aioredis.Redis, course_id: str) -> str:
    """Replaces the generation: every entry read under the old one stops matching at once."""
    token = new_token()
    await r.set(keys.content_generation(course_id), token, ex=GENERATION_TTL_SECONDS)
    return token


async def try_lock(r: aioredis.Redis, name: str, ttl_ms: int) -> str | None:
    """The fill lock's token when this caller got it, None when another holds it."""
    return await locks.acquire(r, keys.content_fill_lock(name), ttl_ms)


async def release_lock(r: aioredis.Redis, name: str, token: str) -> None:
    await locks.release(r, keys.content_fill_lock(name), token)

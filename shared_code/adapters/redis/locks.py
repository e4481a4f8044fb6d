"""Short Redis locks (single-flight fills, leaderboard rebuilds, flush shards).

A lock is a key set with NX and a time to live, holding a random token; only the holder of
the token may delete it, so a holder that outlived its TTL cannot release the lock a later
caller took meanwhile.
"""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


async def acquire(r: aioredis.Redis, key: str, ttl_ms: int, token: str | None = None) -> str | None:
    """The lock's token when this caller got it, None when another holds it."""
    token = token or secrets.token_hex(8)
    return token if await r.set(key, token, px=ttl_ms, nx=True) else None


async def release(r: aioredis.Redis, key: str, token: str) -> None:
    """Deletes the lock only if `token` still holds it."""
    await r.eval(_RELEASE, 1, key, token)

"""Redis side of the student dashboard: a rendered snapshot tagged with a version number.

Every change that affects a dashboard increments the user's version; a snapshot is served
only while its tag equals the current version, so a snapshot built from data read before
the change (even one stored after it) is never served. The snapshot also expires quickly,
which covers what nobody invalidates (a class scheduled, another student's score).
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys

SNAPSHOT_TTL_SECONDS = 60
VERSION_TTL_SECONDS = 7 * 24 * 3600


async def read(r: aioredis.Redis, user_id: str) -> tuple[str, Any | None]:
    """The current version (the user's and the platform's epoch) and the snapshot built
    under it (None when absent or outdated). One round trip; each command one slot."""
    pipe = r.pipeline(transaction=False)
    pipe.mget([keys.dashboard_version(user_id), keys.dashboard_snapshot(user_id)])
    pipe.get(keys.dashboard_epoch())
    (stored, raw), epoch = await pipe.execute()
    version = f"{stored or '0'}.{epoch or '0'}"
    if raw is None:
        return version, None
    try:
        entry = json.loads(raw)
    except ValueError:
        return version, None
    if not isinstance(entry, dict) or entry.get("v") != version:
        return version, None
    return version, entry.get("d")


async def store(r: aioredis.Redis, user_id: str, version: str, data: Any) -> None:
    entry = json.dumps({"v": version, "d": data}, separators=(",", ":"), default=str)
    await r.set(keys.dashboard_snapshot(user_id), entry, ex=SNAPSHOT_TTL_SECONDS)


async def invalidate_all(r: aioredis.Redis) -> None:
    """Every user's snapshot stops matching at once (one key, whatever the number of users)."""
    await r.incr(keys.dashboard_epoch())


async def invalidate(r: aioredis.Redis, user_id: str) -> None:
    pipe = r.pipeline(transaction=False)
    pipe.incr(keys.dashboard_version(user_id))
    pipe.expire(keys.dashboard_version(user_id), VERSION_TTL_SECONDS)
    await pipe.execute()


async def invalidate_many(r: aioredis.Redis, user_ids: list[str]) -> None:
    """`invalidate` for many users in one round trip."""
    pipe = r.pipeline(transaction=False)
    for user_id in user_ids:
        pipe.incr(keys.dashboard_version(user_id))
        pipe.expire(keys.dashboard_version(user_id), VERSION_TTL_SECONDS)
    await pipe.execute()

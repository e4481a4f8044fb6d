"""Redis side of the connection caps: how many connections a user and a class hold.

An admitted connection is a member of a sorted set scored by its admission time, so a
connection whose `disconnected` was lost stops counting after the lease on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.adapters.redis.client import Script
from shared_code.adapters.redis.live import CLASS_TTL_SECONDS

# Connection caps. KEYS: the class's admitted set, the user's admitted set in the class.
# ARGV: connection id, now (ms), lease (ms), per-user cap, per-class cap, ttl (s).
# Entries older than the lease are dropped first: a connection whose `disconnected` was
# lost stops counting on its own. A connect retried for the same connection counts once.
# Returns {code, count}: 'ok' (count = the user's connections), 'user' or 'class' (refused).
_ADMIT = Script("""
local now = tonumber(ARGV[2])
local stale = now - tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', stale)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', stale)
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {'ok', redis.call('ZCARD', KEYS[2])} end
local mine = redis.call('ZCARD', KEYS[2])
if mine >= tonumber(ARGV[4]) then return {'user', mine} end
local all = redis.call('ZCARD', KEYS[1])
if all >= tonumber(ARGV[5]) then return {'class', all} end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
local ttl = tonumber(ARGV[6])
redis.call('EXPIRE', KEYS[1], ttl); redis.call('EXPIRE', KEYS[2], ttl)
return {'ok', mine + 1}
""")


# --- connection caps -------------------------------------------------------------------
# An admitted connection stops counting after this long even if its `disconnected` never
# came; a refused connect also asks Web PubSub which admitted connections still exist.
ADMISSION_LEASE_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Admission:
    admitted: bool
    refused_by: str  # '' when admitted, 'user' or 'class' when a cap refused it
    count: int


async def admit(
    r: aioredis.Redis, class_id: str, user_id: str, connection_id: str, *, per_user: int, per_class: int, now_ms: int
) -> Admission:
    """Counts the connection against the user's and the class's caps, in one step."""
    code, count = await _ADMIT.run(
        r,
        keys=[keys.live_admitted(class_id), keys.live_admitted_user(class_id, user_id)],
        args=[connection_id, now_ms, ADMISSION_LEASE_SECONDS * 1000, per_user, per_class, CLASS_TTL_SECONDS],
    )
    code = code.decode() if isinstance(code, bytes) else str(code)
    return Admission(code == "ok", "" if code == "ok" else code, int(count))


async def release(r: aioredis.Redis, class_id: str, user_id: str | None, connection_ids: list[str]) -> None:
    """The connections are gone: they no longer count against the class's cap, nor against
    the user's when the user is known."""
    if not connection_ids:
        return
    pipe = r.pipeline(transaction=True)
    pipe.zrem(keys.live_admitted(class_id), *connection_ids)
    if user_id:
        pipe.zrem(keys.live_admitted_user(class_id, user_id), *connection_ids)
    await pipe.execute()


async def admitted_before(
    r: aioredis.Redis, class_id: str, user_id: str | None, before_ms: int, limit: int
) -> list[str]:
    """The oldest connections admitted before `before_ms`: the user's, or the class's."""
    name = keys.live_admitted_user(class_id, user_id) if user_id else keys.live_admitted(class_id)
    return [str(c) for c in await r.zrangebyscore(name, "-inf", before_ms, start=0, num=limit)]


async def admit_personal(r: aioredis.Redis, user_id: str, connection_id: str, *, cap: int, now_ms: int) -> Admission:
    """Counts a personal connection against the user's cap (the admit script with one set)."""
    name = keys.live_personal_admitted(user_id)
    code, count = await _ADMIT.run(
        r,
        keys=[name, name], args=[connection_id, now_ms, ADMISSION_LEASE_SECONDS * 1000, cap, cap, CLASS_TTL_SECONDS]
    )
    return Admission(code == "ok", "" if code == "ok" else "user", int(count))


async def personal_admitted(r: aioredis.Redis, user_id: str) -> list[str]:
    return [str(c) for c in await r.zrange(keys.live_personal_admitted(user_id), 0, -1)]


async def release_personal(r: aioredis.Redis, user_id: str, connection_ids: list[str]) -> None:
    if connection_ids:
        await r.zrem(keys.live_personal_admitted(user_id), *connection_ids)


async def claim_admission_heal(r: aioredis.Redis, class_id: str, hold_ms: int) -> bool:
    """True for the one refused connect that may check the class's admitted connections now."""
    return bool(await r.set(keys.live_admission_heal(class_id), "1", nx=True, px=hold_ms))

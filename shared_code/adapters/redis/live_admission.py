"""Redis side of the connection caps: how many connections a user and a class hold.

An admitted connection is a member of a sorted set scored by its admission time, so a
connection whose `disconnected` was lost stops counting after the lease on its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.adapters.redis.client import Script
from shared_code.adapters.redis.live import CLASS_TTL_SECONDS, LOADED_FIELD
from shared_code.adapters.redis.live_presence import JOIN_FUNCTION, Join, join_of, presence_keys
from shared_code.concurrency import ReadBatcher
from shared_code.pipelining import BatchScript

# Connection caps, as a Lua function over the class's admitted set and the user's admitted
# set in the class. ARGV: connection id, now (ms), lease (ms), per-user cap, per-class cap,
# ttl (s). Entries older than the lease are dropped first: a connection whose
# `disconnected` was lost stops counting on its own. A connect retried for the same
# connection counts once. Returns {code, count}: 'ok' (count = the user's connections),
# 'user' or 'class' (refused).
_ADMIT_FUNCTION = """
local function admit(all, mine_key)
  local now = tonumber(ARGV[2])
  local stale = now - tonumber(ARGV[3])
  redis.call('ZREMRANGEBYSCORE', all, '-inf', stale)
  redis.call('ZREMRANGEBYSCORE', mine_key, '-inf', stale)
  if redis.call('ZSCORE', mine_key, ARGV[1]) then return {'ok', redis.call('ZCARD', mine_key)} end
  local mine = redis.call('ZCARD', mine_key)
  if mine >= tonumber(ARGV[4]) then return {'user', mine} end
  local count = redis.call('ZCARD', all)
  if count >= tonumber(ARGV[5]) then return {'class', count} end
  redis.call('ZADD', all, now, ARGV[1])
  redis.call('ZADD', mine_key, now, ARGV[1])
  local ttl = tonumber(ARGV[6])
  redis.call('EXPIRE', all, ttl); redis.call('EXPIRE', mine_key, ttl)
  return {'ok', mine + 1}
end
"""

# KEYS: the class's admitted set, the user's admitted set in the class.
_ADMIT = Script(_ADMIT_FUNCTION + "return admit(KEYS[1], KEYS[2])")

# A ticketed join (events.connect): the class checks, the caps and the presence join in one
# call. KEYS: the class's admitted set, the user's admitted set, the class's meta, its
# moderation, then its conns, present and names hashes, its attendance stream and the
# presence broadcast's pending flag. ARGV: as admit, then the user id, the course id the
# ticket names, '1' to check removal, the moderation hash's loaded field, the user's name,
# the flag's hold (ms).
# 'cold' when Redis cannot answer for the class (its meta, or its moderation when asked,
# not filled): the caller checks in full. 'ended' and 'removed' refuse before counting.
# Returns {code, count, added, first connection, presence count, claimed}: `claimed` is 1
# when this join set the presence broadcast's pending flag (its caller schedules it).
_ADMIT_TICKETED = BatchScript(_ADMIT_FUNCTION + JOIN_FUNCTION + """
local meta = redis.call('HMGET', KEYS[3], 'status', 'courseId')
if not meta[1] or meta[2] ~= ARGV[8] then return {'cold', 0} end
if meta[1] == 'ended' then return {'ended', 0} end
if ARGV[9] == '1' then
  local flags = redis.call('HMGET', KEYS[4], ARGV[7], ARGV[10])
  if not flags[2] then return {'cold', 0} end
  if flags[1] and string.find(flags[1], 'b', 1, true) then return {'removed', 0} end
end
local admitted = admit(KEYS[1], KEYS[2])
if admitted[1] ~= 'ok' then return admitted end
local joined = join(KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[1], ARGV[7], ARGV[11], tonumber(ARGV[6]))
local claimed = 0
if joined[2] == 1 and redis.call('SET', KEYS[9], '1', 'NX', 'PX', ARGV[12]) then claimed = 1 end
return {'ok', admitted[2], joined[1], joined[2], joined[3], claimed}
""")


# --- connection caps -------------------------------------------------------------------
# An admitted connection stops counting after this long even if its `disconnected` never
# came; a refused connect also asks Web PubSub which admitted connections still exist.
ADMISSION_LEASE_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Admission:
    admitted: bool
    refused_by: str  # '' when admitted, 'user' or 'class' when a cap refused it; see admit_ticketed
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


@dataclass(frozen=True)
class TicketedJoin:
    """A ticketed connect's one call: the caps' answer and, when admitted, the presence join."""

    admission: Admission
    join: Join | None  # None unless admitted
    claimed: bool  # the join set the presence broadcast's pending flag: its caller schedules it


async def admit_ticketed(
    batcher: ReadBatcher, class_id: str, course_id: str, user_id: str, connection_id: str, *, name: str,
    check_removal: bool, per_user: int, per_class: int, now_ms: int, hold_ms: int,
) -> TicketedJoin:
    """The class not ended, the user not removed (when `check_removal`), the caps, then the
    presence join: one call, sent with the reads the caller starts in the same moment (and
    the other connects' calls) in one pipeline. `refused_by` is also 'cold' (Redis cannot
    tell), 'ended' or 'removed'."""
    reply = await batcher.submit_script(
        _ADMIT_TICKETED,
        [keys.live_admitted(class_id), keys.live_admitted_user(class_id, user_id), keys.live_meta(class_id),
         keys.live_moderation(class_id), *presence_keys(class_id), keys.live_broadcast_pending(class_id, "presence")],
        [connection_id, now_ms, ADMISSION_LEASE_SECONDS * 1000, per_user, per_class, CLASS_TTL_SECONDS,
         user_id, course_id, "1" if check_removal else "0", LOADED_FIELD, name, hold_ms],
    )
    code = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    admission = Admission(code == "ok", "" if code == "ok" else code, int(reply[1]))
    if not admission.admitted:
        return TicketedJoin(admission, None, False)
    return TicketedJoin(admission, join_of(reply[2:5]), bool(int(reply[5])))


@dataclass(frozen=True)
class JoinFacts:
    """What the class's hot state says about one user joining: '' where it has no answer."""

    status: str
    course_id: str
    flags: str | None  # None: the moderation flags are not filled yet


# KEYS: the class's meta, its moderation. ARGV: the user id, the moderation hash's loaded field.
_JOIN_FACTS = BatchScript("""
return {redis.call('HMGET', KEYS[1], 'status', 'courseId'), redis.call('HMGET', KEYS[2], ARGV[1], ARGV[2])}
""")


def start_join_facts(batcher: ReadBatcher, class_id: str, user_id: str) -> asyncio.Future[Any]:
    """Sends the read of `join_facts` now, with what else starts in the same moment (a
    negotiate's caller checks: one pipeline); `join_facts(pending=)` reads its answer."""
    return batcher.submit_script(
        _JOIN_FACTS, [keys.live_meta(class_id), keys.live_moderation(class_id)], [user_id, LOADED_FIELD]
    )


async def join_facts(
    batcher: ReadBatcher, class_id: str, user_id: str, *, pending: asyncio.Future[Any] | None = None
) -> JoinFacts:
    """The class's status and course and the user's moderation flags, in one round trip (none
    of its own when `pending` holds the read `start_join_facts` sent)."""
    (status, course_id), (flags, loaded) = await (pending or start_join_facts(batcher, class_id, user_id))
    return JoinFacts(str(status or ""), str(course_id or ""), None if loaded is None else str(flags or "").replace("-", ""))


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

"""Redis side of who is in a class: its connections, the users present (a user with two
tabs is present once) and their display names, and the throttled presence broadcast's read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.adapters.redis.client import Script
from shared_code.adapters.redis.live import CLASS_TTL_SECONDS, SEQ_PRELUDE, seq_args
from shared_code.adapters.redis.live_attendance import ATTEND_FUNCTION

# A connection joins the class's presence, as a Lua function over the class's conns,
# present and names hashes and its attendance stream: a connection already there counts
# nothing; a new one leaves its join row in the stream in the same step. Returns {added,
# first connection of the user, presence count}. Also part of the ticketed connect's one
# script (live_admission.py).
JOIN_FUNCTION = ATTEND_FUNCTION + """
local function join(conns, present, names, stream, connection, user, name, ttl)
  if redis.call('HSETNX', conns, connection, user) == 0 then return {0, 0, redis.call('HLEN', present)} end
  local n = redis.call('HINCRBY', present, user, 1)
  redis.call('HSET', names, user, name)
  redis.call('EXPIRE', conns, ttl); redis.call('EXPIRE', present, ttl); redis.call('EXPIRE', names, ttl)
  attend(stream, 'join', connection, user, ttl)
  return {1, n == 1 and 1 or 0, redis.call('HLEN', present)}
end
"""

# KEYS: conns, present, names, attendance. ARGV: connection id, user id, name, ttl.
_JOIN = Script(
    JOIN_FUNCTION + "return join(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))"
)

# KEYS: conns, present, attendance. ARGV: connection id, ttl. A connection that was there
# leaves its leave row in the stream. Returns {removed, user id, last connection, count}.
_LEAVE = Script(ATTEND_FUNCTION + """
local user = redis.call('HGET', KEYS[1], ARGV[1])
if not user then return {0, '', 0, redis.call('HLEN', KEYS[2])} end
redis.call('HDEL', KEYS[1], ARGV[1])
attend(KEYS[3], 'leave', ARGV[1], user, tonumber(ARGV[2]))
local n = redis.call('HINCRBY', KEYS[2], user, -1)
local last = 0
if n <= 0 then redis.call('HDEL', KEYS[2], user); last = 1 end
return {1, user, last, redis.call('HLEN', KEYS[2])}
""")

# Throttled presence broadcast: clear the pending flag and read the count in one step.
_FLUSH_PRESENCE = Script(SEQ_PRELUDE + """
redis.call('DEL', KEYS[1])
local seq = next_seq(KEYS[2], ARGV[1])
return {seq, redis.call('HLEN', KEYS[3])}
""")


# --- presence -------------------------------------------------------------------------
@dataclass(frozen=True)
class Join:
    added: bool
    first_connection: bool
    count: int


@dataclass(frozen=True)
class Leave:
    removed: bool
    user_id: str
    last_connection: bool
    count: int


def presence_keys(class_id: str) -> list[str]:
    """The keys JOIN_FUNCTION takes first: the class's conns, present and names hashes and
    its attendance stream."""
    return [
        keys.live_connections(class_id), keys.live_present(class_id), keys.live_names(class_id),
        keys.live_attendance(class_id),
    ]


def join_of(reply: list[Any]) -> Join:
    added, first, count = reply
    return Join(bool(int(added)), bool(int(first)), int(count))


async def join(r: aioredis.Redis, class_id: str, connection_id: str, user_id: str, name: str) -> Join:
    return join_of(await _JOIN.run(r, keys=presence_keys(class_id), args=[connection_id, user_id, name, CLASS_TTL_SECONDS]))


async def leave(r: aioredis.Redis, class_id: str, connection_id: str) -> Leave:
    removed, user_id, last, count = await _LEAVE.run(
        r,
        keys=[keys.live_connections(class_id), keys.live_present(class_id), keys.live_attendance(class_id)],
        args=[connection_id, CLASS_TTL_SECONDS],
    )
    return Leave(bool(int(removed)), str(user_id), bool(int(last)), int(count))


async def connections(r: aioredis.Redis, class_id: str) -> dict[str, str]:
    """connectionId → userId of every connection in the class."""
    # Replies are str: the client decodes them (decode_responses=True, adapters/redis/client.py).
    return cast("dict[str, str]", await r.hgetall(keys.live_connections(class_id)))


async def presence_count(r: aioredis.Redis, class_id: str) -> int:
    return int(await r.hlen(keys.live_present(class_id)))


# The presence sweep's look at an empty class: nobody present clears the mark and answers
# -1; otherwise the mark is set unless it is there, and its time answered.
_EMPTY_SINCE = Script("""
if redis.call('HLEN', KEYS[1]) > 0 then redis.call('DEL', KEYS[2]); return -1 end
redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2])
return tonumber(redis.call('GET', KEYS[2]))
""")


async def empty_since(r: aioredis.Redis, class_id: str, now_ms: int) -> int | None:
    """Since when (ms) nobody has been in the class, as far as the sweeps have looked: the
    first sweep that found it empty; None while someone is present."""
    since = int(await _EMPTY_SINCE.run(
        r, keys=[keys.live_present(class_id), keys.live_empty_since(class_id)], args=[now_ms, CLASS_TTL_SECONDS]
    ))
    return None if since < 0 else since


async def flush_presence(r: aioredis.Redis, class_id: str, now_ms: int) -> tuple[int, int]:
    seq, count = await _FLUSH_PRESENCE.run(
        r,
        keys=[keys.live_broadcast_pending(class_id, "presence"), keys.live_seq(class_id), keys.live_present(class_id)],
        args=seq_args(now_ms),
    )
    return int(seq), int(count)

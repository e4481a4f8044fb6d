"""Redis side of live classes: sequence numbers, presence, hands, recent chat, the open poll's
tally, moderation flags, and the "broadcast pending" flags of throttled broadcasts.

Every change that clients see as a message allocates the class's next sequence number in
the same Lua script that applies the change, so a state snapshot read at seq N contains
exactly the changes of messages 1..N. When the sequence key is missing (a Redis restart
or eviction during a class) it restarts from the current time in milliseconds: the
numbers stay increasing for every client, who see one gap and fetch the state.

Errors propagate as `redis.exceptions.RedisError`; the services decide what degrades.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.adapters.redis.client import Script

# Keys of a class outlive the class by a day, and an abandoned class's keys go in three.
CLASS_TTL_SECONDS = 3 * 24 * 3600
ENDED_TTL_SECONDS = 24 * 3600
RECENT_CHAT = 50

_PRELUDE = """
local ttl = tonumber(ARGV[2])
local function next_seq(key, floor)
    if redis.call('EXISTS', key) == 0 then redis.call('SET', key, floor) end
    local s = redis.call('INCR', key)
    redis.call('EXPIRE', key, ttl)
    return s
end
local function touch(key) redis.call('EXPIRE', key, ttl) end
"""

# Each script's ARGV[1] is the sequence floor (now in ms) and ARGV[2] the TTL.
_EMIT = Script(_PRELUDE + "return next_seq(KEYS[1], ARGV[1])")

_SET_STATUS = Script(_PRELUDE + """
redis.call('HSET', KEYS[2], 'status', ARGV[3])
if ARGV[3] == 'ended' then redis.call('HDEL', KEYS[2], 'screenShare') end
touch(KEYS[2])
return next_seq(KEYS[1], ARGV[1])
""")

_SCREEN_SHARE = Script(_PRELUDE + """
if ARGV[3] == '' then
    if redis.call('HDEL', KEYS[2], 'screenShare') == 0 then return 0 end
else
    redis.call('HSET', KEYS[2], 'screenShare', ARGV[3])
end
touch(KEYS[2])
return next_seq(KEYS[1], ARGV[1])
""")

_CHAT_POST = Script(_PRELUDE + """
local seq = next_seq(KEYS[1], ARGV[1])
local item = cjson.encode({id=ARGV[4], userId=ARGV[5], userName=ARGV[6], text=ARGV[7], at=ARGV[8], seq=seq})
redis.call('LPUSH', KEYS[2], item)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
touch(KEYS[2])
return seq
""")

_CHAT_DELETE = Script(_PRELUDE + """
for _, item in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    local ok, decoded = pcall(cjson.decode, item)
    if ok and decoded['id'] == ARGV[3] then
        redis.call('LREM', KEYS[2], 0, item)
    end
end
return next_seq(KEYS[1], ARGV[1])
""")

_CHAT_FORGET = Script("""
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    local ok, decoded = pcall(cjson.decode, item)
    if ok and decoded['id'] == ARGV[1] then redis.call('LREM', KEYS[1], 0, item) end
end
return 1
""")

_HAND_RAISE = Script(_PRELUDE + """
if redis.call('ZADD', KEYS[2], 'NX', ARGV[5], ARGV[3]) == 0 then return 0 end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
touch(KEYS[2]); touch(KEYS[3])
return next_seq(KEYS[1], ARGV[1])
""")

_HAND_LOWER = Script(_PRELUDE + """
if redis.call('ZREM', KEYS[2], ARGV[3]) == 0 then return 0 end
return next_seq(KEYS[1], ARGV[1])
""")

_HANDS_CLEAR = Script(_PRELUDE + """
if redis.call('DEL', KEYS[2]) == 0 then return 0 end
return next_seq(KEYS[1], ARGV[1])
""")

# KEYS: seq, poll, votes, counts. ARGV[3..]: id, option count, question, options JSON, openedAt.
_POLL_OPEN = Script(_PRELUDE + """
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[2], 'id', ARGV[3], 'status', 'open', 'options', ARGV[4],
           'question', ARGV[5], 'optionsJson', ARGV[6], 'openedAt', ARGV[7], 'version', 0)
touch(KEYS[2])
return next_seq(KEYS[1], ARGV[1])
""")

# Loads an open poll after Redis lost it, keeping whatever is there.
_POLL_RESTORE = Script(_PRELUDE + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'status', ARGV[4], 'options', ARGV[5],
           'question', ARGV[6], 'optionsJson', ARGV[7], 'openedAt', ARGV[8], 'version', 0)
redis.call('DEL', KEYS[2], KEYS[3])
for i = 9, #ARGV, 2 do
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
    redis.call('HINCRBY', KEYS[3], ARGV[i + 1], 1)
end
touch(KEYS[1]); touch(KEYS[2]); touch(KEYS[3])
return 1
""")

_POLL_FREEZE = Script("""
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'closed')
return 1
""")

# KEYS: seq, poll. ARGV[3..]: id, final counts JSON.
_POLL_CLOSED = Script(_PRELUDE + """
if redis.call('HGET', KEYS[2], 'id') == ARGV[3] then
    redis.call('HSET', KEYS[2], 'status', 'closed', 'finalCounts', ARGV[4])
end
return next_seq(KEYS[1], ARGV[1])
""")

# KEYS: poll, votes, counts, seq. ARGV: poll id, user id, option, ttl.
# Returns {code, version, changed, current seq}; code 'ok', 'cold' (no poll in Redis),
# 'other' (another poll is current), 'closed', 'option' (no such option).
_VOTE = Script("""
local current = redis.call('HGET', KEYS[1], 'id')
if not current then return {'cold', 0, 0} end
if current ~= ARGV[1] then return {'other', 0, 0} end
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return {'closed', 0, 0} end
local option = tonumber(ARGV[3])
if option < 0 or option >= tonumber(redis.call('HGET', KEYS[1], 'options')) then return {'option', 0, 0} end
-- Versions come from Redis' clock, kept increasing, so they stay ahead of the versions
-- PostgreSQL holds even after this hash was lost and restored.
local t = redis.call('TIME')
local version = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version <= last then version = last + 1 end
-- string.format: Lua's default number formatting would round to 14 digits.
redis.call('HSET', KEYS[1], 'version', string.format('%d', version))
local previous = redis.call('HGET', KEYS[2], ARGV[2])
local seq = tonumber(redis.call('GET', KEYS[4]) or '0')
if previous == ARGV[3] then return {'ok', version, 0, seq} end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
if previous then redis.call('HINCRBY', KEYS[3], previous, -1) end
local ttl = tonumber(ARGV[4])
redis.call('EXPIRE', KEYS[2], ttl); redis.call('EXPIRE', KEYS[3], ttl)
return {'ok', version, 1, seq}
""")

# KEYS: conns, present, names. ARGV: connection id, user id, name, ttl.
# Returns {added, first connection of the user, presence count}.
_JOIN = Script("""
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return {0, 0, redis.call('HLEN', KEYS[2])} end
local n = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
local ttl = tonumber(ARGV[4])
redis.call('EXPIRE', KEYS[1], ttl); redis.call('EXPIRE', KEYS[2], ttl); redis.call('EXPIRE', KEYS[3], ttl)
return {1, n == 1 and 1 or 0, redis.call('HLEN', KEYS[2])}
""")

# KEYS: conns, present. ARGV: connection id. Returns {removed, user id, last connection, count}.
_LEAVE = Script("""
local user = redis.call('HGET', KEYS[1], ARGV[1])
if not user then return {0, '', 0, redis.call('HLEN', KEYS[2])} end
redis.call('HDEL', KEYS[1], ARGV[1])
local n = redis.call('HINCRBY', KEYS[2], user, -1)
local last = 0
if n <= 0 then redis.call('HDEL', KEYS[2], user); last = 1 end
return {1, user, last, redis.call('HLEN', KEYS[2])}
""")

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

# Throttled broadcasts: clear the pending flag and read what to send in one step, so a
# change made after this read finds no flag and schedules the next broadcast itself.
_FLUSH_PRESENCE = Script(_PRELUDE + """
redis.call('DEL', KEYS[1])
local seq = next_seq(KEYS[2], ARGV[1])
return {seq, redis.call('HLEN', KEYS[3])}
""")

_FLUSH_TALLY = Script(_PRELUDE + """
redis.call('DEL', KEYS[1])
if redis.call('HGET', KEYS[3], 'status') ~= 'open' then return {0} end
local seq = next_seq(KEYS[2], ARGV[1])
local poll = redis.call('HMGET', KEYS[3], 'id', 'options')
return {seq, poll[1], poll[2], redis.call('HGETALL', KEYS[4])}
""")

_FLUSH_REACTIONS = Script(_PRELUDE + """
redis.call('DEL', KEYS[1])
local counts = redis.call('HGETALL', KEYS[3])
if #counts == 0 then return {0} end
redis.call('DEL', KEYS[3])
return {next_seq(KEYS[2], ARGV[1]), counts}
""")

_REACT = Script("""
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], 60)
return 1
""")

# KEYS: seq, meta, present, hands, names, chat, poll, counts. ARGV: floor, ttl, recent chat.
_SNAPSHOT = Script(_PRELUDE + """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]); touch(KEYS[1]) end
local seq = redis.call('GET', KEYS[1])
local hands = {}
for i, v in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')) do
    if i % 2 == 1 then
        hands[#hands + 1] = v
        hands[#hands + 1] = redis.call('HGET', KEYS[5], v) or ''
    else
        hands[#hands + 1] = v
    end
end
return {
    seq,
    redis.call('HGETALL', KEYS[2]),
    redis.call('HLEN', KEYS[3]),
    hands,
    redis.call('LRANGE', KEYS[6], 0, tonumber(ARGV[3]) - 1),
    redis.call('HGETALL', KEYS[7]),
    redis.call('HGETALL', KEYS[8]),
}
""")


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {str(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def counts_list(options: int, counts: dict[str, str]) -> list[int]:
    """Counts by option index, zero for options nobody chose."""
    return [max(0, int(counts.get(str(i), 0))) for i in range(options)]


def _seq_args(now_ms: int, *rest: Any) -> list[Any]:
    return [now_ms, CLASS_TTL_SECONDS, *rest]


# --- class ----------------------------------------------------------------------------
async def init_class(r: aioredis.Redis, class_id: str, meta: dict[str, str]) -> None:
    """A new class starts at sequence 0 with its metadata cached."""
    pipe = r.pipeline(transaction=True)
    pipe.set(keys.live_seq(class_id), 0, nx=True, ex=CLASS_TTL_SECONDS)
    pipe.hset(keys.live_meta(class_id), mapping=meta)
    pipe.expire(keys.live_meta(class_id), CLASS_TTL_SECONDS)
    await pipe.execute()


async def read_meta(r: aioredis.Redis, class_id: str) -> dict[str, str]:
    return await r.hgetall(keys.live_meta(class_id))


async def store_meta(r: aioredis.Redis, class_id: str, meta: dict[str, str]) -> None:
    """Fills the metadata cache from PostgreSQL without overwriting a newer status."""
    name = keys.live_meta(class_id)
    pipe = r.pipeline(transaction=True)
    for field, value in meta.items():
        pipe.hsetnx(name, field, value)
    pipe.expire(name, CLASS_TTL_SECONDS)
    await pipe.execute()


async def emit(r: aioredis.Redis, class_id: str, now_ms: int) -> int:
    """The next sequence number, for messages that change no Redis state."""
    return int(await _EMIT.run(r, keys=[keys.live_seq(class_id)], args=_seq_args(now_ms)))


async def current_seq(r: aioredis.Redis, class_id: str) -> int:
    value = await r.get(keys.live_seq(class_id))
    return int(value) if value is not None else 0


async def set_status(r: aioredis.Redis, class_id: str, status: str, now_ms: int) -> int:
    return int(
        await _SET_STATUS.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_meta(class_id)], args=_seq_args(now_ms, status)
        )
    )


async def set_screen_share(r: aioredis.Redis, class_id: str, share: dict[str, Any] | None, now_ms: int) -> int:
    """Sequence of the change, or 0 when stopping a share that was not running."""
    value = json.dumps(share, separators=(",", ":")) if share else ""
    return int(
        await _SCREEN_SHARE.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_meta(class_id)], args=_seq_args(now_ms, value)
        )
    )


async def expire_class(r: aioredis.Redis, class_id: str) -> None:
    """An ended class's hot state lingers a day for late readers, then goes."""
    names = [
        keys.live_seq(class_id), keys.live_meta(class_id), keys.live_connections(class_id),
        keys.live_present(class_id), keys.live_names(class_id), keys.live_hands(class_id),
        keys.live_recent_chat(class_id), keys.live_moderation(class_id), keys.live_open_poll(class_id),
        keys.live_poll_votes(class_id), keys.live_poll_counts(class_id), keys.live_admitted(class_id),
    ]
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.expire(name, ENDED_TTL_SECONDS)
    await pipe.execute()


# --- chat -----------------------------------------------------------------------------
async def post_chat(
    r: aioredis.Redis, class_id: str, *, message_id: str, user_id: str, user_name: str, text: str, at: str, now_ms: int
) -> int:
    return int(
        await _CHAT_POST.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_recent_chat(class_id)],
            args=_seq_args(now_ms, RECENT_CHAT, message_id, user_id, user_name, text, at),
        )
    )


async def delete_chat(r: aioredis.Redis, class_id: str, message_id: str, now_ms: int) -> int:
    return int(
        await _CHAT_DELETE.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_recent_chat(class_id)], args=_seq_args(now_ms, message_id)
        )
    )


async def forget_chat(r: aioredis.Redis, class_id: str, message_id: str) -> None:
    """Takes a message out of the recent list when its write to PostgreSQL failed."""
    await _CHAT_FORGET.run(r, keys=[keys.live_recent_chat(class_id)], args=[message_id])


async def has_recent_chat(r: aioredis.Redis, class_id: str) -> bool:
    return bool(await r.exists(keys.live_recent_chat(class_id)))


async def restore_recent_chat(r: aioredis.Redis, class_id: str, items: list[dict[str, Any]]) -> None:
    """Refills the recent-chat list (newest first) after Redis lost it."""
    if not items:
        return
    name = keys.live_recent_chat(class_id)
    pipe = r.pipeline(transaction=True)
    pipe.delete(name)
    pipe.rpush(name, *[json.dumps(i, separators=(",", ":"), default=str) for i in items[:RECENT_CHAT]])
    pipe.expire(name, CLASS_TTL_SECONDS)
    await pipe.execute()


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


async def join(r: aioredis.Redis, class_id: str, connection_id: str, user_id: str, name: str) -> Join:
    added, first, count = await _JOIN.run(
        r,
        keys=[keys.live_connections(class_id), keys.live_present(class_id), keys.live_names(class_id)],
        args=[connection_id, user_id, name, CLASS_TTL_SECONDS],
    )
    return Join(bool(int(added)), bool(int(first)), int(count))


async def leave(r: aioredis.Redis, class_id: str, connection_id: str) -> Leave:
    removed, user_id, last, count = await _LEAVE.run(
        r,
        keys=[keys.live_connections(class_id), keys.live_present(class_id)], args=[connection_id]
    )
    return Leave(bool(int(removed)), str(user_id), bool(int(last)), int(count))


async def connections(r: aioredis.Redis, class_id: str) -> dict[str, str]:
    """connectionId → userId of every connection in the class."""
    return await r.hgetall(keys.live_connections(class_id))


async def presence_count(r: aioredis.Redis, class_id: str) -> int:
    return int(await r.hlen(keys.live_present(class_id)))


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


# --- hands ----------------------------------------------------------------------------
async def raise_hand(r: aioredis.Redis, class_id: str, user_id: str, name: str, now_ms: int) -> int:
    """Sequence of the change, or 0 when the hand was already up (its place is kept)."""
    return int(
        await _HAND_RAISE.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_hands(class_id), keys.live_names(class_id)],
            args=_seq_args(now_ms, user_id, name, now_ms),
        )
    )


async def lower_hand(r: aioredis.Redis, class_id: str, user_id: str, now_ms: int) -> int:
    return int(
        await _HAND_LOWER.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_hands(class_id)], args=_seq_args(now_ms, user_id)
        )
    )


async def clear_hands(r: aioredis.Redis, class_id: str, now_ms: int) -> int:
    return int(
        await _HANDS_CLEAR.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_hands(class_id)], args=_seq_args(now_ms)
        )
    )


# --- polls ----------------------------------------------------------------------------
def _poll_keys(class_id: str) -> list[str]:
    return [keys.live_open_poll(class_id), keys.live_poll_votes(class_id), keys.live_poll_counts(class_id)]


async def open_poll(
    r: aioredis.Redis, class_id: str, *, poll_id: str, question: str, options: list[str], opened_at: str, now_ms: int
) -> int:
    return int(
        await _POLL_OPEN.run(
            r,
            keys=[keys.live_seq(class_id), *_poll_keys(class_id)],
            args=_seq_args(now_ms, poll_id, len(options), question, json.dumps(options), opened_at),
        )
    )


async def restore_poll(
    r: aioredis.Redis,
    class_id: str,
    *,
    poll_id: str,
    status: str,
    question: str,
    options: list[str],
    opened_at: str,
    votes: dict[str, int],
) -> bool:
    """Puts a poll read from PostgreSQL back into Redis, unless one is already there."""
    flat: list[Any] = []
    for user_id, option in votes.items():
        flat.extend((user_id, option))
    return bool(
        await _POLL_RESTORE.run(
            r,
            keys=_poll_keys(class_id),
            args=[0, CLASS_TTL_SECONDS, poll_id, status, len(options), question, json.dumps(options), opened_at, *flat],
        )
    )


async def freeze_poll(r: aioredis.Redis, class_id: str, poll_id: str) -> bool:
    """Refuses every later vote of the poll in Redis (PostgreSQL refuses them too)."""
    return bool(await _POLL_FREEZE.run(r, keys=[keys.live_open_poll(class_id)], args=[poll_id]))


async def poll_closed(r: aioredis.Redis, class_id: str, poll_id: str, counts: list[int], now_ms: int) -> int:
    return int(
        await _POLL_CLOSED.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_open_poll(class_id)],
            args=_seq_args(now_ms, poll_id, json.dumps(counts)),
        )
    )


@dataclass(frozen=True)
class VoteResult:
    code: str
    version: int
    changed: bool
    seq: int = 0  # the class's current seq, for the voter's acknowledgement


async def vote(r: aioredis.Redis, class_id: str, poll_id: str, user_id: str, option: int) -> VoteResult:
    result = await _VOTE.run(
        r,
        keys=[*_poll_keys(class_id), keys.live_seq(class_id)], args=[poll_id, user_id, option, CLASS_TTL_SECONDS]
    )
    code, version, changed = result[:3]
    seq = int(result[3]) if len(result) > 3 else 0
    return VoteResult(str(code), int(version), bool(int(changed)), seq)


async def read_poll(r: aioredis.Redis, class_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """The current poll's hash and its counts hash."""
    pipe = r.pipeline(transaction=True)
    pipe.hgetall(keys.live_open_poll(class_id))
    pipe.hgetall(keys.live_poll_counts(class_id))
    poll, counts = await pipe.execute()
    return poll, counts


async def user_vote(r: aioredis.Redis, class_id: str, user_id: str) -> int | None:
    value = await r.hget(keys.live_poll_votes(class_id), user_id)
    return int(value) if value is not None else None


# --- reactions ------------------------------------------------------------------------
async def add_reaction(r: aioredis.Redis, class_id: str, emoji: str) -> None:
    await _REACT.run(r, keys=[keys.live_reactions(class_id)], args=[emoji])


# --- throttled broadcasts -------------------------------------------------------------
async def claim_broadcast(r: aioredis.Redis, class_id: str, topic: str, hold_ms: int) -> bool:
    """True for the one caller that schedules the next broadcast of `topic`.

    `hold_ms` only bounds how long a flag can outlive a process that died before its
    broadcast ran; the broadcast itself clears the flag when it reads the state.
    """
    return bool(await r.set(keys.live_broadcast_pending(class_id, topic), "1", nx=True, px=hold_ms))


async def flush_presence(r: aioredis.Redis, class_id: str, now_ms: int) -> tuple[int, int]:
    seq, count = await _FLUSH_PRESENCE.run(
        r,
        keys=[keys.live_broadcast_pending(class_id, "presence"), keys.live_seq(class_id), keys.live_present(class_id)],
        args=_seq_args(now_ms),
    )
    return int(seq), int(count)


async def flush_tally(r: aioredis.Redis, class_id: str, now_ms: int) -> tuple[int, str, list[int]] | None:
    """Sequence, poll id and counts (one per option) of the open poll; None when no poll is open."""
    result = await _FLUSH_TALLY.run(
        r,
        keys=[
            keys.live_broadcast_pending(class_id, "tally"),
            keys.live_seq(class_id),
            keys.live_open_poll(class_id),
            keys.live_poll_counts(class_id),
        ],
        args=_seq_args(now_ms),
    )
    if not result or int(result[0]) == 0:
        return None
    return int(result[0]), str(result[1]), counts_list(int(result[2]), _pairs(result[3]))


async def flush_reactions(r: aioredis.Redis, class_id: str, now_ms: int) -> tuple[int, dict[str, int]] | None:
    result = await _FLUSH_REACTIONS.run(
        r,
        keys=[keys.live_broadcast_pending(class_id, "reactions"), keys.live_seq(class_id), keys.live_reactions(class_id)],
        args=_seq_args(now_ms),
    )
    if not result or int(result[0]) == 0:
        return None
    return int(result[0]), {k: int(v) for k, v in _pairs(result[1]).items()}


# --- moderation -----------------------------------------------------------------------
LOADED_FIELD = "~loaded"


async def moderation_flags(r: aioredis.Redis, class_id: str, user_id: str) -> str | None:
    """'' / 'm' / 'b' / 'mb' for the user, or None when the cache is not filled yet."""
    flags, loaded = await r.hmget(keys.live_moderation(class_id), [user_id, LOADED_FIELD])
    if loaded is None:
        return None
    return (flags or "").replace("-", "")


async def fill_moderation(r: aioredis.Redis, class_id: str, flags: dict[str, str]) -> None:
    """Fills the cache from PostgreSQL; HSETNX so a concurrent newer write is never undone."""
    name = keys.live_moderation(class_id)
    pipe = r.pipeline(transaction=True)
    for user_id, value in flags.items():
        pipe.hsetnx(name, user_id, value or "-")
    pipe.hset(name, LOADED_FIELD, "1")
    pipe.expire(name, CLASS_TTL_SECONDS)
    await pipe.execute()


async def set_moderation(r: aioredis.Redis, class_id: str, user_id: str, flags: str) -> None:
    name = keys.live_moderation(class_id)
    pipe = r.pipeline(transaction=True)
    pipe.hset(name, user_id, flags or "-")
    pipe.expire(name, CLASS_TTL_SECONDS)
    await pipe.execute()


# --- snapshot -------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    seq: int
    meta: dict[str, str]
    presence_count: int
    hands: list[tuple[str, str, int]]  # user id, name, raised at (ms), in raising order
    recent_chat: list[dict[str, Any]]  # newest first
    poll: dict[str, str]
    poll_counts: dict[str, str]


async def snapshot(r: aioredis.Redis, class_id: str, now_ms: int, recent: int = 20) -> Snapshot:
    seq, meta, count, hands, chat, poll, counts = await _SNAPSHOT.run(
        r,
        keys=[
            keys.live_seq(class_id),
            keys.live_meta(class_id),
            keys.live_present(class_id),
            keys.live_hands(class_id),
            keys.live_names(class_id),
            keys.live_recent_chat(class_id),
            keys.live_open_poll(class_id),
            keys.live_poll_counts(class_id),
        ],
        args=_seq_args(now_ms, recent),
    )
    raised = [(str(hands[i]), str(hands[i + 1]), int(float(hands[i + 2]))) for i in range(0, len(hands), 3)]
    messages = []
    for item in chat:
        try:
            messages.append(json.loads(item))
        except ValueError:
            continue
    return Snapshot(int(seq), _pairs(meta), int(count), raised, messages, _pairs(poll), _pairs(counts))

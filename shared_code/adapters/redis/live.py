"""Redis side of live classes: sequence numbers, presence, hands, recent chat, moderation
flags, the class snapshot, and the "broadcast pending" flags of throttled broadcasts. The
open poll and its tally are in `live_polls.py`, who is in the class in `live_presence.py`,
the connection caps in `live_admission.py`, what people send the class (a chat message, a
raised hand, a reaction) in `live_room.py`; they share this module's sequence prelude and
key lifetime.

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
from typing import Any, cast

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from shared_code.adapters.redis import keys
from shared_code.adapters.redis.client import Script

# Keys of a class outlive the class by a day, and an abandoned class's keys go in three.
CLASS_TTL_SECONDS = 3 * 24 * 3600
ENDED_TTL_SECONDS = 24 * 3600
RECENT_CHAT = 50

SEQ_PRELUDE = """
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
_EMIT = Script(SEQ_PRELUDE + "return next_seq(KEYS[1], ARGV[1])")

_SET_STATUS = Script(SEQ_PRELUDE + """
redis.call('HSET', KEYS[2], 'status', ARGV[3])
if ARGV[3] == 'ended' then redis.call('HDEL', KEYS[2], 'screenShare') end
touch(KEYS[2])
return next_seq(KEYS[1], ARGV[1])
""")

_SCREEN_SHARE = Script(SEQ_PRELUDE + """
if ARGV[3] == '' then
    if redis.call('HDEL', KEYS[2], 'screenShare') == 0 then return 0 end
else
    redis.call('HSET', KEYS[2], 'screenShare', ARGV[3])
end
touch(KEYS[2])
return next_seq(KEYS[1], ARGV[1])
""")

_CHAT_DELETE = Script(SEQ_PRELUDE + """
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

_HANDS_CLEAR = Script(SEQ_PRELUDE + """
if redis.call('DEL', KEYS[2]) == 0 then return 0 end
return next_seq(KEYS[1], ARGV[1])
""")

# Throttled broadcasts: clear the pending flag and read what to send in one step, so a
# change made after this read finds no flag and schedules the next broadcast itself.
_FLUSH_REACTIONS = Script(SEQ_PRELUDE + """
redis.call('DEL', KEYS[1])
local counts = redis.call('HGETALL', KEYS[3])
if #counts == 0 then return {0} end
redis.call('DEL', KEYS[3])
return {next_seq(KEYS[2], ARGV[1]), counts}
""")

# KEYS: seq, meta, present, hands, names, chat, poll, counts. ARGV: floor, ttl, recent chat.
_SNAPSHOT = Script(SEQ_PRELUDE + """
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


def pairs(flat: list[Any]) -> dict[str, str]:
    return {str(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def seq_args(now_ms: int, *rest: Any) -> list[Any]:
    return [now_ms, CLASS_TTL_SECONDS, *rest]


# --- class ----------------------------------------------------------------------------
async def init_class(r: aioredis.Redis, class_id: str, meta: dict[str, str]) -> None:
    """A new class starts at sequence 0 with its metadata cached."""
    pipe = r.pipeline(transaction=True)
    pipe.set(keys.live_seq(class_id), 0, nx=True, ex=CLASS_TTL_SECONDS)
    fields: dict[FieldT, EncodableT] = {key: value for key, value in meta.items()}  # redis' own mapping type (dict keys are invariant)
    pipe.hset(keys.live_meta(class_id), mapping=fields)
    pipe.expire(keys.live_meta(class_id), CLASS_TTL_SECONDS)
    await pipe.execute()


async def read_meta(r: aioredis.Redis, class_id: str) -> dict[str, str]:
    # Replies are str: the client decodes them (decode_responses=True, adapters/redis/client.py).
    return cast("dict[str, str]", await r.hgetall(keys.live_meta(class_id)))


async def store_meta(r: aioredis.Redis, class_id: str, meta: dict[str, str]) -> None:
    """Fills the metadata cache from PostgreSQL without overwriting a newer status."""
    name = keys.live_meta(class_id)
    pipe = r.pipeline(transaction=True)
    for field, value in meta.items():
        pipe.hsetnx(name, field, value)
    pipe.expire(name, CLASS_TTL_SECONDS)
    await pipe.execute()


async def set_title(r: aioredis.Redis, class_id: str, title: str) -> None:
    """The class was renamed. A meta hash this creates holds no status, so it reads as a
    miss and is filled from PostgreSQL around it (`store_meta`)."""
    name = keys.live_meta(class_id)
    pipe = r.pipeline(transaction=True)
    pipe.hset(name, "title", title)
    pipe.expire(name, CLASS_TTL_SECONDS)
    await pipe.execute()


async def emit(r: aioredis.Redis, class_id: str, now_ms: int) -> int:
    """The next sequence number, for messages that change no Redis state."""
    return int(await _EMIT.run(r, keys=[keys.live_seq(class_id)], args=seq_args(now_ms)))


async def current_seq(r: aioredis.Redis, class_id: str) -> int:
    value = await r.get(keys.live_seq(class_id))
    return int(value) if value is not None else 0


async def set_status(r: aioredis.Redis, class_id: str, status: str, now_ms: int) -> int:
    return int(
        await _SET_STATUS.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_meta(class_id)], args=seq_args(now_ms, status)
        )
    )


async def set_screen_share(r: aioredis.Redis, class_id: str, share: dict[str, Any] | None, now_ms: int) -> int:
    """Sequence of the change, or 0 when stopping a share that was not running."""
    value = json.dumps(share, separators=(",", ":")) if share else ""
    return int(
        await _SCREEN_SHARE.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_meta(class_id)], args=seq_args(now_ms, value)
        )
    )


async def expire_class(r: aioredis.Redis, class_id: str) -> None:
    """An ended class's hot state lingers a day for late readers, then goes."""
    names = [
        keys.live_seq(class_id), keys.live_meta(class_id), keys.live_connections(class_id),
        keys.live_present(class_id), keys.live_names(class_id), keys.live_hands(class_id),
        keys.live_recent_chat(class_id), keys.live_moderation(class_id), keys.live_open_poll(class_id),
        keys.live_poll_votes(class_id), keys.live_poll_counts(class_id), keys.live_admitted(class_id),
        keys.live_past_polls(class_id),
    ]
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.expire(name, ENDED_TTL_SECONDS)
    await pipe.execute()


# --- chat -----------------------------------------------------------------------------
async def delete_chat(r: aioredis.Redis, class_id: str, message_id: str, now_ms: int) -> int:
    return int(
        await _CHAT_DELETE.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_recent_chat(class_id)], args=seq_args(now_ms, message_id)
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


# --- hands ----------------------------------------------------------------------------
async def clear_hands(r: aioredis.Redis, class_id: str, now_ms: int) -> int:
    return int(
        await _HANDS_CLEAR.run(
            r,
            keys=[keys.live_seq(class_id), keys.live_hands(class_id)], args=seq_args(now_ms)
        )
    )


# --- throttled broadcasts -------------------------------------------------------------
async def claim_broadcast(r: aioredis.Redis, class_id: str, topic: str, hold_ms: int) -> bool:
    """True for the one caller that schedules the next broadcast of `topic`.

    `hold_ms` only bounds how long a flag can outlive a process that died before its
    broadcast ran; the broadcast itself clears the flag when it reads the state.
    """
    return bool(await r.set(keys.live_broadcast_pending(class_id, topic), "1", nx=True, px=hold_ms))


async def flush_reactions(r: aioredis.Redis, class_id: str, now_ms: int) -> tuple[int, dict[str, int]] | None:
    result = await _FLUSH_REACTIONS.run(
        r,
        keys=[keys.live_broadcast_pending(class_id, "reactions"), keys.live_seq(class_id), keys.live_reactions(class_id)],
        args=seq_args(now_ms),
    )
    if not result or int(result[0]) == 0:
        return None
    return int(result[0]), {k: int(v) for k, v in pairs(result[1]).items()}


# --- moderation -----------------------------------------------------------------------
LOADED_FIELD = "~loaded"


async def moderation_flags(r: aioredis.Redis, class_id: str, user_id: str) -> str | None:
    """'' / 'm' / 'b' / 'mb' for the user, or None when the cache is not filled yet."""
    flags, loaded = await r.hmget(keys.live_moderation(class_id), [user_id, LOADED_FIELD])
    if loaded is None:
        return None
    return str(flags or "").replace("-", "")


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
        args=seq_args(now_ms, recent),
    )
    raised = [(str(hands[i]), str(hands[i + 1]), int(float(hands[i + 2]))) for i in range(0, len(hands), 3)]
    messages = []
    for item in chat:
        try:
            messages.append(json.loads(item))
        except ValueError:
            continue
    return Snapshot(int(seq), pairs(meta), int(count), raised, messages, pairs(poll), pairs(counts))

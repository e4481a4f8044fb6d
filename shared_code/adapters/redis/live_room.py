"""Redis side of what the people in a class send it: chat messages, raised hands, reactions.

Each is one script call that decides everything Redis can decide about it and applies it:
a chat message checks the class's status and the sender's moderation flags, applies the
sender's rate limit (the limiter's own GCRA function, on a key in the class's slot), and
takes the class's next seq with its place in the recent-chat list; a raised hand checks the
status and the rate, then goes up; a reaction applies the rate, is counted, and claims the
reaction broadcast. Every answer carries the class's seq, so a refusal or a hand that was
already up is acknowledged without another read. The calls of concurrent events go out
together as one pipeline (`ScriptBatcher`), as votes and heartbeats do.

A class whose status or moderation flags Redis lost answers `cold-meta` / `cold-flags`
before anything is counted; the service fills them from PostgreSQL and calls again.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.adapters.redis.live import CLASS_TTL_SECONDS, LOADED_FIELD, RECENT_CHAT, SEQ_PRELUDE
from shared_code.adapters.redis.ratelimit import GCRA_FUNCTION
from shared_code.concurrency import ScriptBatcher

# The class's seq as it is, for acknowledgements (0 when Redis has none yet).
_CURRENT = """
local function current(key) return tonumber(redis.call('GET', key) or '0') end
"""

# KEYS: seq, meta, moderation, the sender's rate key, recent chat.
# ARGV: floor (now ms), ttl, recent count, message id, user id, user name, text, at (ISO),
# rate interval (ms), rate limit, staff (1/0).
# Returns {code, seq, retry-after ms}: code 'ok' (seq is the message's), 'cold-meta',
# 'cold-flags' (nothing counted), 'ended', 'removed', 'muted', 'rate'.
_CHAT = SEQ_PRELUDE + GCRA_FUNCTION + _CURRENT + """
local meta = redis.call('HMGET', KEYS[2], 'courseId', 'status')
if not meta[1] or not meta[2] then return {'cold-meta', current(KEYS[1]), 0} end
if meta[2] == 'ended' then return {'ended', current(KEYS[1]), 0} end
local flags = redis.call('HMGET', KEYS[3], ARGV[5], '""" + LOADED_FIELD + """')
if not flags[2] then return {'cold-flags', current(KEYS[1]), 0} end
local mine = flags[1] or ''
if string.find(mine, 'b', 1, true) then return {'removed', current(KEYS[1]), 0} end
if ARGV[11] ~= '1' and string.find(mine, 'm', 1, true) then return {'muted', current(KEYS[1]), 0} end
local allowed, _, wait = gcra(KEYS[4], tonumber(ARGV[9]), tonumber(ARGV[10]), 1)
if allowed == 0 then return {'rate', current(KEYS[1]), wait} end
local seq = next_seq(KEYS[1], ARGV[1])
local item = cjson.encode({id=ARGV[4], userId=ARGV[5], userName=ARGV[6], text=ARGV[7], at=ARGV[8], seq=seq})
redis.call('LPUSH', KEYS[5], item)
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[3]) - 1)
touch(KEYS[5])
return {'ok', seq, 0}
"""

# KEYS: seq, meta, hands, names, the raiser's rate key.
# ARGV: floor (now ms), ttl, user id, name, raised at (ms), rate interval (ms), rate limit.
# Returns {code, seq, retry-after ms}: 'ok' (the hand went up at seq), 'up' (it was up
# already and keeps its place; seq is the current one), 'cold-meta', 'ended', 'rate'.
_HAND_RAISE = SEQ_PRELUDE + GCRA_FUNCTION + _CURRENT + """
local meta = redis.call('HMGET', KEYS[2], 'courseId', 'status')
if not meta[1] or not meta[2] then return {'cold-meta', current(KEYS[1]), 0} end
if meta[2] == 'ended' then return {'ended', current(KEYS[1]), 0} end
local allowed, _, wait = gcra(KEYS[5], tonumber(ARGV[6]), tonumber(ARGV[7]), 1)
if allowed == 0 then return {'rate', current(KEYS[1]), wait} end
if redis.call('ZADD', KEYS[3], 'NX', ARGV[5], ARGV[3]) == 0 then return {'up', current(KEYS[1]), 0} end
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
touch(KEYS[3]); touch(KEYS[4])
return {'ok', next_seq(KEYS[1], ARGV[1]), 0}
"""

# KEYS: seq, hands. ARGV: floor (now ms), ttl, user id.
# Returns {lowered (1/0), seq}: the lowering's seq, or the current one when the hand was down.
_HAND_LOWER = SEQ_PRELUDE + _CURRENT + """
if redis.call('ZREM', KEYS[2], ARGV[3]) == 0 then return {0, current(KEYS[1])} end
return {1, next_seq(KEYS[1], ARGV[1])}
"""

# KEYS: seq, reactions, the reaction broadcast's pending flag, the reactor's rate key.
# ARGV: emoji, rate interval (ms), rate limit, pending hold (ms).
# Returns {code, seq, claimed (1/0) or retry-after ms}: 'ok' or 'rate'.
_REACT = GCRA_FUNCTION + _CURRENT + """
local allowed, _, wait = gcra(KEYS[4], tonumber(ARGV[2]), tonumber(ARGV[3]), 1)
if allowed == 0 then return {'rate', current(KEYS[1]), wait} end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('EXPIRE', KEYS[2], 60)
local claimed = 0
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[4]) then claimed = 1 end
return {'ok', current(KEYS[1]), claimed}
"""


@dataclass(frozen=True)
class Outcome:
    """What one script call decided: its code, the class's seq (the change's own when it
    made one), and for 'rate' how long to wait."""

    code: str
    seq: int
    retry_after_ms: int = 0
    claimed: bool = False  # a reaction that claimed the broadcast: its caller schedules it


@dataclass(frozen=True)
class Rate:
    """A GCRA limit as the scripts take it."""

    interval_ms: int
    limit: int


class RoomStore:
    """The chat, hand and reaction scripts on one client; the bootstrap builds one per
    process, so the calls of concurrent events share pipelines."""

    def __init__(self, r: aioredis.Redis) -> None:
        self._chat = ScriptBatcher(r, _CHAT)
        self._raise = ScriptBatcher(r, _HAND_RAISE)
        self._lower = ScriptBatcher(r, _HAND_LOWER)
        self._react = ScriptBatcher(r, _REACT)

    async def post_chat(
        self, class_id: str, *, message_id: str, user_id: str, user_name: str, text: str, at: str, now_ms: int,
        staff: bool, rate: Rate,
    ) -> Outcome:
        code, seq, wait = await self._chat.call(
            [
                keys.live_seq(class_id), keys.live_meta(class_id), keys.live_moderation(class_id),
                keys.live_event_rate(class_id, "chat", user_id), keys.live_recent_chat(class_id),
            ],
            [now_ms, CLASS_TTL_SECONDS, RECENT_CHAT, message_id, user_id, user_name, text, at,
             rate.interval_ms, rate.limit, 1 if staff else 0],
        )
        return Outcome(str(code), int(seq), int(wait))

    async def raise_hand(self, class_id: str, user_id: str, name: str, now_ms: int, rate: Rate) -> Outcome:
        code, seq, wait = await self._raise.call(
            [
                keys.live_seq(class_id), keys.live_meta(class_id), keys.live_hands(class_id),
                keys.live_names(class_id), keys.live_event_rate(class_id, "hand", user_id),
            ],
            [now_ms, CLASS_TTL_SECONDS, user_id, name, now_ms, rate.interval_ms, rate.limit],
        )
        return Outcome(str(code), int(seq), int(wait))

    async def lower_hand(self, class_id: str, user_id: str, now_ms: int) -> tuple[bool, int]:
        """Whether the hand went down, and the seq: the lowering's, or the current one."""
        lowered, seq = await self._lower.call(
            [keys.live_seq(class_id), keys.live_hands(class_id)], [now_ms, CLASS_TTL_SECONDS, user_id]
        )
        return bool(int(lowered)), int(seq)

    async def react(self, class_id: str, user_id: str, emoji: str, *, rate: Rate, hold_ms: int) -> Outcome:
        code, seq, third = await self._react.call(
            [
                keys.live_seq(class_id), keys.live_reactions(class_id),
                keys.live_broadcast_pending(class_id, "reactions"), keys.live_event_rate(class_id, "reaction", user_id),
            ],
            [emoji, rate.interval_ms, rate.limit, hold_ms],
        )
        if code == "rate":
            return Outcome("rate", int(seq), int(third))
        return Outcome(str(code), int(seq), claimed=bool(int(third)))

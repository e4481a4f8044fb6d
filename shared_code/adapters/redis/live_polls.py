"""Redis side of a class's poll: the open poll, its votes and tally, and the throttled tally
broadcast's read. One poll is current per class; a vote is one script call that checks the
poll, records the vote, moves the counts and stamps a version from Redis' clock, so the
tally is never read half-moved; the same call applies the voter's rate limit and claims the
tally broadcast, so a vote costs one round trip (and the votes of concurrent events share
one pipeline). A poll Redis lost is restored from PostgreSQL by the service
(`restore_poll`) before the vote is retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.adapters.redis.client import Script
from shared_code.adapters.redis.live import CLASS_TTL_SECONDS, SEQ_PRELUDE, pairs, seq_args
from shared_code.adapters.redis.ratelimit import GCRA_FUNCTION
from shared_code.concurrency import ScriptBatcher
from shared_code.domain.polls import counts_list

# KEYS: seq, poll, votes, counts, past polls. ARGV[3..]: id, option count, question, options
# JSON, openedAt.
_POLL_OPEN = Script(SEQ_PRELUDE + """
local previous = redis.call('HGET', KEYS[2], 'id')
if previous then redis.call('SADD', KEYS[5], previous); touch(KEYS[5]) end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[2], 'id', ARGV[3], 'status', 'open', 'options', ARGV[4],
           'question', ARGV[5], 'optionsJson', ARGV[6], 'openedAt', ARGV[7], 'version', 0)
touch(KEYS[2])
return next_seq(KEYS[1], ARGV[1])
""")

# Loads an open poll after Redis lost it, keeping whatever is there.
_POLL_RESTORE = Script(SEQ_PRELUDE + """
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
_POLL_CLOSED = Script(SEQ_PRELUDE + """
if redis.call('HGET', KEYS[2], 'id') == ARGV[3] then
    redis.call('HSET', KEYS[2], 'status', 'closed', 'finalCounts', ARGV[4])
end
return next_seq(KEYS[1], ARGV[1])
""")

# One round trip per vote: the voter's rate limit, the poll's state, the vote, the tally
# and the claim of the tally broadcast, with the class's current seq for the
# acknowledgement, so a refusal is worded from what this call returns.
# KEYS: poll, votes, counts, seq, the voter's rate key, the tally's pending flag, past polls.
# ARGV: poll id, user id, option, ttl, rate interval (ms), rate limit, pending hold (ms).
# Returns {code, version or retry-after ms, changed (0/1), seq, claimed (0/1)}; code 'ok',
# 'cold' (no poll in Redis; nothing counted), 'rate' (rate-limited), 'closed', 'none' (the
# class has no such poll), 'option' (no such option).
_VOTE = Script(GCRA_FUNCTION + """
local current = redis.call('HGET', KEYS[1], 'id')
if not current then return {'cold', 0, 0, 0, 0} end
local seq = tonumber(redis.call('GET', KEYS[4]) or '0')
local allowed, _, wait = gcra(KEYS[5], tonumber(ARGV[5]), tonumber(ARGV[6]), 1)
if allowed == 0 then return {'rate', wait, 0, seq, 0} end
if current ~= ARGV[1] then
    if redis.call('SISMEMBER', KEYS[7], ARGV[1]) == 1 then return {'closed', 0, 0, seq, 0} end
    return {'none', 0, 0, seq, 0}
end
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return {'closed', 0, 0, seq, 0} end
local option = tonumber(ARGV[3])
if option < 0 or option >= tonumber(redis.call('HGET', KEYS[1], 'options')) then return {'option', 0, 0, seq, 0} end
-- Versions come from Redis' clock, kept increasing, so they stay ahead of the versions
-- PostgreSQL holds even after this hash was lost and restored.
local t = redis.call('TIME')
local version = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version <= last then version = last + 1 end
-- string.format: Lua's default number formatting would round to 14 digits.
local stamp = string.format('%d', version)
redis.call('HSET', KEYS[1], 'version', stamp)
local previous = redis.call('HGET', KEYS[2], ARGV[2])
if previous == ARGV[3] then return {'ok', stamp, 0, seq, 0} end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
if previous then redis.call('HINCRBY', KEYS[3], previous, -1) end
local ttl = tonumber(ARGV[4])
redis.call('EXPIRE', KEYS[2], ttl); redis.call('EXPIRE', KEYS[3], ttl)
local claimed = 0
if redis.call('SET', KEYS[6], '1', 'NX', 'PX', ARGV[7]) then claimed = 1 end
return {'ok', stamp, 1, seq, claimed}
""")

# Throttled tally broadcast: clear the pending flag and read the tally in one step.
_FLUSH_TALLY = Script(SEQ_PRELUDE + """
redis.call('DEL', KEYS[1])
if redis.call('HGET', KEYS[3], 'status') ~= 'open' then return {0} end
local seq = next_seq(KEYS[2], ARGV[1])
local poll = redis.call('HMGET', KEYS[3], 'id', 'options')
return {seq, poll[1], poll[2], redis.call('HGETALL', KEYS[4])}
""")


# --- polls ----------------------------------------------------------------------------
def _poll_keys(class_id: str) -> list[str]:
    return [keys.live_open_poll(class_id), keys.live_poll_votes(class_id), keys.live_poll_counts(class_id)]


async def open_poll(
    r: aioredis.Redis, class_id: str, *, poll_id: str, question: str, options: list[str], opened_at: str, now_ms: int
) -> int:
    return int(
        await _POLL_OPEN.run(
            r,
            keys=[keys.live_seq(class_id), *_poll_keys(class_id), keys.live_past_polls(class_id)],
            args=seq_args(now_ms, poll_id, len(options), question, json.dumps(options), opened_at),
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
            args=seq_args(now_ms, poll_id, json.dumps(counts)),
        )
    )


@dataclass(frozen=True)
class VoteResult:
    code: str
    version: int
    changed: bool
    seq: int = 0  # the class's current seq, for the voter's acknowledgement
    claimed: bool = False  # this vote claimed the tally broadcast: its caller schedules it
    retry_after_ms: int = 0  # for 'rate': how long to wait


class PollStore:
    """The vote script on one client; the bootstrap builds one per process, so the votes
    that concurrent events cast go out together as one pipeline (`ScriptBatcher`)."""

    def __init__(self, r: aioredis.Redis) -> None:
        self._votes = ScriptBatcher(r, _VOTE.source)

    async def vote(
        self, class_id: str, poll_id: str, user_id: str, option: int, *,
        rate_interval_ms: int, rate_limit: int, hold_ms: int,
    ) -> VoteResult:
        code, version, changed, seq, claimed = await self._votes.call(
            [
                *_poll_keys(class_id), keys.live_seq(class_id), keys.live_vote_rate(class_id, user_id),
                keys.live_broadcast_pending(class_id, "tally"), keys.live_past_polls(class_id),
            ],
            [poll_id, user_id, option, CLASS_TTL_SECONDS, rate_interval_ms, rate_limit, hold_ms],
        )
        if code == "rate":  # the script's second value is then how long to wait
            return VoteResult("rate", 0, False, int(seq), retry_after_ms=int(version))
        return VoteResult(str(code), int(version), bool(int(changed)), int(seq), bool(int(claimed)))


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
        args=seq_args(now_ms),
    )
    if not result or int(result[0]) == 0:
        return None
    return int(result[0]), str(result[1]), counts_list(int(result[2]), pairs(result[3]))

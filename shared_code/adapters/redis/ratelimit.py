"""A generic rate limiter in Redis: GCRA (the generic cell rate algorithm) in one Lua script.

`RateLimiter(r).allow(bucket, subject, limit=5, period_ms=10_000)` admits at most `limit` requests per
`period_ms` for one subject, with bursts up to `limit`, and answers how long to wait when
it refuses. One key per subject holds only the "theoretical arrival time", so the limiter
costs one round trip and one small key, and several worker processes share it. Redis'
own clock (`TIME`) is used, so workers with skewed clocks agree. Concurrent calls go out
together as one pipeline, through the process's `ReadBatcher` (the one the stored roles and
the content cache read through): every request is metered, so the limiter sits on the
hottest paths and must cost little more than the bytes it sends, and a request's limits
share their round trip with the reads it starts in the same moment (`start`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.concurrency import ReadBatcher
from shared_code.domain.ratelimit import Decision, emission_interval_ms
from shared_code.pipelining import BatchScript

# GCRA as a Lua function, so the scripts of the hottest paths (a vote, a heartbeat) apply
# the limit in the same call as their change: `gcra(key, interval_ms, limit, cost)` returns
# allowed (0/1), remaining, retry_after_ms, and stores the new arrival time when allowed.
GCRA_FUNCTION = """
local function gcra(key, interval, limit, cost)
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local tat = tonumber(redis.call('GET', key) or '0')
    if tat < now then tat = now end
    local new_tat = tat + interval * cost
    local allow_at = new_tat - interval * limit
    if allow_at > now then
        return 0, 0, allow_at - now
    end
    redis.call('SET', key, new_tat, 'PX', math.max(1, new_tat - now))
    return 1, math.floor((now - allow_at) / interval), 0
end
"""

# KEYS[1] the subject's key; ARGV: emission interval (ms), limit (burst), cost.
# Returns {allowed (0/1), remaining, retry_after_ms}.
_GCRA = BatchScript(GCRA_FUNCTION + """
local allowed, remaining, wait = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return {allowed, remaining, wait}
""")


class RateLimiter:
    """The limiter of one Redis client; built once per process by the bootstrap, so its
    calls share one batcher (pass the process's `ReadBatcher` to share it with reads)."""

    def __init__(self, r: aioredis.Redis, batcher: ReadBatcher | None = None) -> None:
        self._batcher = batcher if batcher is not None else ReadBatcher(r)

    def start(self, bucket: str, subject: str, *, limit: int, period_ms: int, cost: int = 1) -> asyncio.Future[Any]:
        """Sends the count of one request (of `cost`) against `subject` in `bucket` with the
        calls made in the same moment; `decision` reads the future's answer."""
        interval = emission_interval_ms(limit, period_ms)
        return self._batcher.submit_script(_GCRA, [keys.rate_limit(bucket, subject)], [interval, limit, cost])

    @staticmethod
    def decision(reply: Any) -> Decision:
        allowed, remaining, retry_after = reply
        return Decision(bool(int(allowed)), int(remaining), int(retry_after))

    async def allow(self, bucket: str, subject: str, *, limit: int, period_ms: int, cost: int = 1) -> Decision:
        """Counts one request (of `cost`) against `subject` in `bucket`; refuses beyond the rate."""
        return self.decision(await self.start(bucket, subject, limit=limit, period_ms=period_ms, cost=cost))

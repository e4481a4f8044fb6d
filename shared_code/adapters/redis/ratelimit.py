"""A generic rate limiter in Redis: GCRA (the generic cell rate algorithm) in one Lua script.

`RateLimiter(r).allow(bucket, subject, limit=5, period_ms=10_000)` admits at most `limit` requests per
`period_ms` for one subject, with bursts up to `limit`, and answers how long to wait when
it refuses. One key per subject holds only the "theoretical arrival time", so the limiter
costs one round trip and one small key, and several worker processes share it. Redis'
own clock (`TIME`) is used, so workers with skewed clocks agree. Concurrent calls go out
together as one pipeline (`ScriptBatcher`): every write request is metered, so the
limiter sits on the hottest paths (heartbeats, votes) and must cost little more than the
bytes it sends.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.concurrency import ScriptBatcher
from shared_code.domain.ratelimit import Decision, emission_interval_ms

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
_GCRA = GCRA_FUNCTION + """
local allowed, remaining, wait = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return {allowed, remaining, wait}
"""


class RateLimiter:
    """The limiter of one Redis client; built once per process by the bootstrap, so its
    calls share one batcher."""

    def __init__(self, r: aioredis.Redis) -> None:
        self._batcher = ScriptBatcher(r, _GCRA)

    async def allow(self, bucket: str, subject: str, *, limit: int, period_ms: int, cost: int = 1) -> Decision:
        """Counts one request (of `cost`) against `subject` in `bucket`; refuses beyond the rate."""
        interval = emission_interval_ms(limit, period_ms)
        allowed, remaining, retry_after = await self._batcher.call(
            [keys.rate_limit(bucket, subject)], [interval, limit, cost]
        )
        return Decision(bool(int(allowed)), int(remaining), int(retry_after))

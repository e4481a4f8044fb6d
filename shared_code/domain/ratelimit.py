"""The arithmetic of the rate limiter (GCRA, the generic cell rate algorithm): how far apart
requests must be once a burst is spent, and what a refusal tells the caller. The Lua script
in `adapters/redis/ratelimit.py` runs the algorithm itself on Redis' clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after_ms: int

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds for a `Retry-After` header (at least 1 when refused)."""
        return 0 if self.allowed else max(1, -(-self.retry_after_ms // 1000))


def emission_interval_ms(limit: int, period_ms: int) -> int:
    """The spacing that lets `limit` requests through per `period_ms` once the burst is spent."""
    if limit <= 0 or period_ms <= 0:
        raise ValueError("limit and period must be positive")
    return max(1, period_ms // limit)

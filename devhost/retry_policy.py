"""Retry policies (`@app.retry`), applied by the host to the triggers that support them.

In Functions 4.x a retry policy covers timer triggers (and event-stream triggers the
local host does not run). Queue triggers ignore it: they retry by redelivery, with the
dequeue count and the poison queue. The host retries a failed invocation up to
`max_retry_count` times (-1: forever) within the same trigger occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devhost.host_config import parse_timespan

FIXED_DELAY = "fixed_delay"
EXPONENTIAL_BACKOFF = "exponential_backoff"


class RetryPolicyError(ValueError):
    """A retry setting the host would refuse at startup."""


@dataclass(frozen=True)
class RetryPolicy:
    strategy: str
    max_retry_count: int  # -1: retry forever
    delay: float = 0.0
    minimum_interval: float = 0.0
    maximum_interval: float = 0.0

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> RetryPolicy | None:
        """Builds the policy from a function's `retry_policy` settings dict, if it has one."""
        if not settings:
            return None
        strategy = str(settings.get("strategy") or "").lower()
        try:
            count = int(str(settings.get("max_retry_count")))
        except ValueError:
            raise RetryPolicyError(f"max_retry_count must be an integer, got {settings.get('max_retry_count')!r}") from None
        if count < -1:
            raise RetryPolicyError("max_retry_count must be -1 (forever) or at least 0")
        try:
            if strategy == FIXED_DELAY:
                if not settings.get("delay_interval"):
                    raise RetryPolicyError("the fixed_delay strategy needs delay_interval")
                return cls(strategy, count, delay=parse_timespan(str(settings["delay_interval"])))
            if strategy == EXPONENTIAL_BACKOFF:
                if not settings.get("minimum_interval") or not settings.get("maximum_interval"):
                    raise RetryPolicyError("the exponential_backoff strategy needs minimum_interval and maximum_interval")
                low = parse_timespan(str(settings["minimum_interval"]))
                high = parse_timespan(str(settings["maximum_interval"]))
                if low > high:
                    raise RetryPolicyError("minimum_interval must not exceed maximum_interval")
                return cls(strategy, count, minimum_interval=low, maximum_interval=high)
        except ValueError as exc:
            if isinstance(exc, RetryPolicyError):
                raise
            raise RetryPolicyError(str(exc)) from None
        raise RetryPolicyError(f"unknown retry strategy {settings.get('strategy')!r} (fixed_delay or exponential_backoff)")

    def allows(self, retry_number: int) -> bool:
        """Whether retry number `retry_number` (1 for the first retry) may run."""
        return self.max_retry_count == -1 or retry_number <= self.max_retry_count

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number`.

        Exponential back-off doubles from the minimum up to the maximum. The host adds some
        random jitter on top; leaving it out keeps local runs and tests predictable.
        """
        if self.strategy == FIXED_DELAY:
            return self.delay
        return min(self.minimum_interval * (2 ** (retry_number - 1)), self.maximum_interval)

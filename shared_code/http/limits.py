"""Request rates: the per-address and per-user limits every endpoint shares, and the
helper handlers use for the few limits of their own (heartbeats, joins, tokens)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func
from redis.exceptions import RedisError

from shared_code.adapters.redis.ratelimit import RateLimiter
from shared_code.bootstrap import get_context
from shared_code.concurrency import quiet
from shared_code.errors import RateLimited, ServiceUnavailable
from shared_code.http.parsing import client_ip

Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def start_limit(ctx: Any, bucket: str, subject: str, per_minute: int) -> asyncio.Future[Any]:
    """Sends the count of this request against `subject` at once (with whatever else the
    request starts in the same moment); `settle_limit` judges the answer."""
    return quiet(ctx.rate_limits.start(bucket, subject, limit=per_minute, period_ms=60_000))


async def limit_rate(ctx: Any, bucket: str, subject: str, per_minute: int, *, fail_open: bool) -> None:
    """429 with Retry-After beyond `per_minute` (see `settle_limit`)."""
    await settle_limit(start_limit(ctx, bucket, subject, per_minute), fail_open=fail_open)


TOO_MANY = "Too many requests; slow down."


async def settle_limit(pending: asyncio.Future[Any], *, fail_open: bool, refusal: str = TOO_MANY) -> None:
    """429 with Retry-After when the count `start_limit` sent went beyond the rate.

    When Redis is down: ordinary writes fail open (`fail_open=True`: an outage of the
    limiter must not lock every user out of heartbeats and quizzes), while abuse-prone
    calls (issuing tokens, joining live classes) fail closed with a 503, since unmetered
    they are what an attacker would use. Reads are metered generously and always fail
    open: the limiter's outage must never take reading down with it.
    """
    try:
        decision = RateLimiter.decision(await pending)
    except RedisError:
        if fail_open:
            return
        raise ServiceUnavailable("Rate limiting is unavailable; retry shortly.", retry_after=5) from None
    if not decision.allowed:
        raise RateLimited(refusal, retry_after=decision.retry_after_seconds)


def with_ip_limit(handler: Handler, *, reads: bool) -> Handler:
    """Anonymous requests (payment webhooks, development tokens, health) are counted per address."""

    @functools.wraps(handler)
    async def run(req: func.HttpRequest) -> func.HttpResponse:
        ctx = await get_context()
        s = ctx.settings
        if reads:
            await limit_rate(ctx, "reads-ip", client_ip(req), s.rate_limit_reads_per_ip_per_minute, fail_open=True)
        else:
            await limit_rate(ctx, "writes-ip", client_ip(req), s.rate_limit_writes_per_ip_per_minute, fail_open=True)
        return await handler(req)

    return run

"""The generic rate limits against a real Redis: refusal with Retry-After past the rate, and
the outage policy (ordinary writes fail open, abuse-prone ones fail closed)."""

from __future__ import annotations

import uuid

import pytest

from shared_code.errors import RateLimited, ServiceUnavailable
from shared_code.http import limit_rate


async def test_the_limit_refuses_past_the_rate_with_retry_after(ctx):
    subject = str(uuid.uuid4())
    for _ in range(5):
        await limit_rate(ctx, "writes", subject, 5, fail_open=True)
    with pytest.raises(RateLimited) as err:
        await limit_rate(ctx, "writes", subject, 5, fail_open=True)
    assert err.value.status == 429 and err.value.retry_after >= 1
    await limit_rate(ctx, "writes", str(uuid.uuid4()), 5, fail_open=True)  # others are not affected


async def test_with_redis_down_writes_pass_and_abuse_prone_calls_are_refused(ctx, redis_server):
    redis_server.kill()
    await limit_rate(ctx, "writes", "someone", 5, fail_open=True)
    with pytest.raises(ServiceUnavailable):
        await limit_rate(ctx, "dev-token", "127.0.0.1", 5, fail_open=False)


async def test_limits_sent_with_reads_still_count_after_redis_forgot_the_script(ctx):
    """The limiter's calls ride the reads' pipeline by the script's SHA: a Redis that
    restarted or failed over forgets it, and the calls of that very batch are sent again."""
    subject = str(uuid.uuid4())
    await limit_rate(ctx, "writes", subject, 3, fail_open=False)
    await ctx.redis.script_flush()  # as after a restart or a failover
    names = [f"lectern:test:{uuid.uuid4()}"]
    read = ctx.account_reads.submit(names)  # in the same pipeline as the limits below
    await limit_rate(ctx, "writes", subject, 3, fail_open=False)
    await limit_rate(ctx, "writes", subject, 3, fail_open=False)
    assert await read == [None]
    with pytest.raises(RateLimited):
        await limit_rate(ctx, "writes", subject, 3, fail_open=False)

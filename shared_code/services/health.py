"""Health of every dependency, checked concurrently with a short timeout each."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from shared_code.context import AppContext

CHECK_TIMEOUT_SECONDS = 3.0


async def _check(probe: Callable[[], Awaitable[object]]) -> str:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        return f"error: {type(exc).__name__}"


async def check_all(ctx: AppContext) -> dict[str, str]:
    probes = {
        "postgres": ctx.db.ping,
        "redis": ctx.redis.ping,
        "tables": ctx.tables.ping,
        "blobs": ctx.blobs.ping,
        "queues": ctx.queues.ping,
        "webpubsub": ctx.pubsub.ping,
    }
    results = await asyncio.gather(*(_check(p) for p in probes.values()))
    return dict(zip(probes, results))

"""The flush: dirty heartbeat snapshots from Redis into PostgreSQL, in batches, shards in
parallel, within a time budget below the timer's period so runs do not pile up.

Every write merges with GREATEST semantics, so a flush racing a completion or a sync, or
a batch written twice after a failure, reaches the same row.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from shared_code.adapters.postgres import progress as progress_sql
from shared_code.adapters.postgres.progress import ProgressColumns
from shared_code.adapters.redis import progress as progress_redis
from shared_code.context import AppContext
from shared_code.services.progress.completion import late_completion

logger = logging.getLogger("lectern.progress")

FLUSH_TIME_BUDGET_SECONDS = 4.0  # below the 5 s timer period, so flushes do not pile up
FLUSH_PARALLEL_SHARDS = 4


@dataclass
class FlushReport:
    snapshots: int = 0
    batches: int = 0
    completions: int = 0
    shards_busy: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


async def flush_dirty(
    ctx: AppContext,
    *,
    batch_size: int | None = None,
    time_budget: float = FLUSH_TIME_BUDGET_SECONDS,
    parallel: int = FLUSH_PARALLEL_SHARDS,
) -> FlushReport:
    """Writes dirty snapshots to PostgreSQL, one statement per batch, shards in parallel.

    Stops taking new batches after `time_budget` seconds; what is left waits for the next
    run. Raises after every shard had its turn when any batch failed (its members are
    back in the dirty set by then).
    """
    started = time.perf_counter()
    report = FlushReport()
    store = ctx.progress_store
    size = batch_size or ctx.settings.flush_batch_size
    deadline = started + time_budget
    gate = asyncio.Semaphore(parallel)

    async def run(shard: int) -> None:
        async with gate:
            await _flush_shard(ctx, store, shard, size, deadline, report)

    results = await asyncio.gather(*(run(s) for s in range(progress_redis.SHARDS)), return_exceptions=True)
    report.seconds = time.perf_counter() - started
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        report.errors = [f"{type(f).__name__}: {f}" for f in failures]
        raise failures[0]
    if report.snapshots:
        logger.info(
            "flushed progress",
            extra={"snapshots": report.snapshots, "batches": report.batches, "seconds": round(report.seconds, 3)},
        )
    else:
        logger.debug("no dirty progress to flush")
    return report


async def _flush_shard(
    ctx: AppContext, store: progress_redis.ProgressStore, shard: int, size: int, deadline: float, report: FlushReport
) -> None:
    token = secrets.token_hex(8)
    if not await store.lock_shard(shard, token):
        report.shards_busy += 1  # another flusher has this shard right now
        return
    try:
        while time.perf_counter() < deadline:
            members = await store.take(shard, size)
            if not members:
                return
            try:
                snapshots = await store.read(members)
                rows = ProgressColumns(
                    users=snapshots.users,
                    lessons=snapshots.lessons,
                    positions=snapshots.positions,
                    watched=snapshots.watched,
                    durations=snapshots.durations,
                    completed=snapshots.completed,
                    client_ms=snapshots.client_ms,
                    heard_ms=snapshots.heard_ms,
                    credits=snapshots.credits,
                )
                async with ctx.db.transaction() as conn:
                    completed_now = await progress_sql.upsert_columns(conn, rows)
            except BaseException:
                try:
                    await store.give_back(shard)
                except RedisError:
                    pass  # still in the flushing set: the next take puts them back
                raise
            await store.done(shard)
            report.snapshots += len(rows)
            report.batches += 1
            # Normally empty: completions are written when they happen. A snapshot whose
            # completion never reached PostgreSQL (a double failure) gets its effects here.
            for row in completed_now:
                report.completions += 1
                await late_completion(ctx, row)
            if len(members) < size:
                return
    finally:
        try:
            await store.unlock_shard(shard, token)
        except RedisError:
            pass


async def dirty_snapshots(ctx: AppContext) -> int:
    """How many snapshots wait for the flush (for health and benchmarks)."""
    return await ctx.progress_store.dirty_count()

"""The one mechanism for side effects that must not be lost.

`perform` tries an effect now; on failure it puts `{kind, payload, attempt, reason}` on
the outbox queue, and the queue trigger (`functions/retries.py`) calls `retry` until the
effect succeeds or the attempts run out, when the message goes to `<queue>-poison` with
its reason for an admin to read and replay.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind

from shared_code import logs, metrics, telemetry
from shared_code.adapters.postgres import pending_effects as pending_sql
from shared_code.context import AppContext, Effect

logger = logging.getLogger("lectern.outbox")

EFFECT_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 5
BASE_DELAY_SECONDS = 2
MAX_DELAY_SECONDS = 300


def poison_queue(ctx: AppContext) -> str:
    return f"{ctx.settings.outbox_queue}-poison"


def backoff_seconds(attempt: int) -> int:
    """Delay before retry number `attempt` (1-based): 2, 4, 8, ... capped."""
    return int(min(BASE_DELAY_SECONDS * 2 ** max(0, attempt - 1), MAX_DELAY_SECONDS))


def long_running[E: Effect](effect: E, *, seconds: float) -> E:
    """Marks an effect that may run longer than a request's effects may (a full privacy
    export, built only from the queue): the outbox gives it `seconds` instead."""
    effect.timeout_seconds = seconds  # type: ignore[attr-defined]
    return effect


async def _run(ctx: AppContext, kind: str, payload: dict[str, Any]) -> None:
    handler = ctx.effects.get(kind)
    if handler is None:
        raise LookupError(f"unknown effect kind {kind!r}")
    await asyncio.wait_for(handler(ctx, payload), getattr(handler, "timeout_seconds", EFFECT_TIMEOUT_SECONDS))


async def enqueue(
    ctx: AppContext, kind: str, payload: dict[str, Any], *, reason: str, attempt: int = 1, delay_seconds: int | None = None
) -> str:
    message = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "payload": payload,
        "attempt": attempt,
        "reason": reason,
        "queuedAt": datetime.now(UTC).isoformat(),
    }
    # The retry continues the trace of the request that queued the effect (telemetry on).
    parent = telemetry.traceparent()
    if parent:
        message["traceparent"] = parent
    delay = backoff_seconds(attempt) if delay_seconds is None else delay_seconds
    return await ctx.queues.send(ctx.settings.outbox_queue, message, delay_seconds=delay)


async def perform(ctx: AppContext, kind: str, payload: dict[str, Any]) -> bool:
    """Runs the effect; returns False when it failed and was queued for retry.

    When the queue is down too (Storage unreachable), the effect is parked in PostgreSQL
    and `drain_parked` retries it. Raises only when all three fail: then the caller must not
    acknowledge the write that caused it.
    """
    try:
        await _run(ctx, kind, payload)
        return True
    except Exception as exc:  # noqa: BLE001 - any failure is a reason to retry later
        reason = f"{type(exc).__name__}: {exc}"[:500]
    logger.warning("effect %s failed, queued for retry: %s", kind, reason)
    try:
        await enqueue(ctx, kind, payload, reason=reason)
    except Exception as exc:  # noqa: BLE001 - Storage itself is down: park in PostgreSQL
        logger.warning("outbox queue unavailable (%s); effect %s parked in PostgreSQL", type(exc).__name__, kind)
        async with ctx.db.connection() as conn:
            await pending_sql.park(conn, str(uuid.uuid4()), kind, payload, reason)
    return False


async def schedule(ctx: AppContext, kind: str, payload: dict[str, Any]) -> None:
    """Hands the effect to the outbox queue without trying it here: for work too slow for a
    request (rendering a document). The queue trigger runs it with the same retries; while
    the queue is down it is parked in PostgreSQL, as `perform` does."""
    try:
        await enqueue(ctx, kind, payload, reason="scheduled", delay_seconds=0)
    except Exception as exc:  # noqa: BLE001 - Storage itself is down: park in PostgreSQL
        logger.warning("outbox queue unavailable (%s); effect %s parked in PostgreSQL", type(exc).__name__, kind)
        async with ctx.db.connection() as conn:
            await pending_sql.park(conn, str(uuid.uuid4()), kind, payload, "scheduled; the queue was unavailable")


def defer(ctx: AppContext, kind: str, payload: dict[str, Any]) -> None:
    """Runs the effect off the request's critical path (still queued for retry on failure)."""

    async def run() -> None:
        try:
            await perform(ctx, kind, payload)
        except Exception:  # noqa: BLE001 - a background task has no caller to raise to; logged instead
            logger.exception("effect %s could neither run nor be queued", kind)

    ctx.background.spawn(run())


async def retry(ctx: AppContext, message: dict[str, Any]) -> str:
    """Handles one outbox message; returns `done`, `requeued` or `poisoned`. Runs in the
    trace of the request that queued it, when the message carries its `traceparent`."""
    kind = str(message.get("kind", ""))
    parent = message.get("traceparent") if isinstance(message.get("traceparent"), str) else None
    with logs.bound(operation=f"outbox {kind}"[:80], trace_id=telemetry.trace_id_of(parent)), telemetry.span(
        f"outbox {kind}"[:80], kind=SpanKind.CONSUMER, parent=parent, continues=True,
        attributes={"lectern.effect": kind[:80], "messaging.destination.name": ctx.settings.outbox_queue},
    ):
        return await _retry(ctx, message, kind)


async def _retry(ctx: AppContext, message: dict[str, Any], kind: str) -> str:
    payload = message.get("payload") or {}
    attempt = int(message.get("attempt") or 1)
    try:
        await _run(ctx, kind, payload)
        return "done"
    except Exception as exc:  # noqa: BLE001 - any failure of an effect is requeued or poisoned, never lost
        reason = f"{type(exc).__name__}: {exc}"[:500]
    if attempt >= MAX_ATTEMPTS or kind not in ctx.effects:
        dead = dict(message, reason=reason, attempt=attempt, poisonedAt=datetime.now(UTC).isoformat())
        await ctx.queues.send(poison_queue(ctx), dead)
        logger.error("effect %s gave up after %s attempts: %s", kind, attempt, reason)
        return "poisoned"
    await enqueue(ctx, kind, payload, reason=reason, attempt=attempt + 1)
    return "requeued"


# The drain timer's work per run: batches of this many rows, each batch's effects run up
# to this many at a time, batch after batch while rows are due and the run is within its
# budget (below the timer's period, so runs do not pile up). After a long Storage outage
# the backlog goes in minutes, not a batch per run for hours. Some effects read
# PostgreSQL, so at most half the pool's connections go to the drain: requests keep theirs.
DRAIN_BATCH = 200
DRAIN_CONCURRENCY = 16
DRAIN_BUDGET_SECONDS = 8.0


def drain_concurrency(ctx: AppContext) -> int:
    return max(1, min(DRAIN_CONCURRENCY, ctx.settings.postgres_pool_max // 2))


async def drain_parked(
    ctx: AppContext, *, limit: int = DRAIN_BATCH, budget_seconds: float = DRAIN_BUDGET_SECONDS
) -> tuple[int, int]:
    """Runs effects parked in PostgreSQL; returns how many left PostgreSQL (done, or moved
    to the queue) and how many stay parked. Rows are taken a batch at a time and locked
    while they run, so several instances can drain at once without running one twice.

    An effect that fails again while the queue is reachable moves to the queue, so from
    then on it follows the same back-off and ends in the poison queue an admin sees,
    instead of being retried from PostgreSQL for ever. A batch in which an effect could be
    neither run nor queued (Storage still down) ends the run: the rest waits for the next.
    """
    finished = failed = 0
    deadline = time.monotonic() + budget_seconds
    while True:
        taken, done_now, failed_now = await _drain_batch(ctx, limit)
        finished += done_now
        failed += failed_now
        if taken < limit or failed_now or time.monotonic() >= deadline:
            break
    if finished or failed:
        logger.info("parked effects: %s left PostgreSQL, %s still parked", finished, failed)
    else:
        logger.debug("no parked effects due")
    return finished, failed


async def _drain_batch(ctx: AppContext, limit: int) -> tuple[int, int, int]:
    """One batch: (rows taken, left PostgreSQL, still parked)."""
    gate = asyncio.Semaphore(drain_concurrency(ctx))

    async def attempt(parked: pending_sql.ParkedEffect) -> str | None:
        """None when the effect left PostgreSQL; else why it stays. Effects are independent
        of each other's order (each is idempotent, and those whose order would matter write
        the state PostgreSQL holds when they run), so a batch runs them side by side."""
        async with gate:
            try:
                await _run(ctx, parked.kind, parked.payload)
                return None
            except Exception as exc:  # noqa: BLE001 - stays pending with its reason
                reason = f"{type(exc).__name__}: {exc}"[:500]
            try:
                await enqueue(ctx, parked.kind, parked.payload, reason=reason, attempt=2)
                return None
            except Exception:  # noqa: BLE001 - Storage is still down: stays parked
                return reason

    async with ctx.db.transaction() as conn:
        rows = await pending_sql.take_due(conn, limit)
        outcomes = await asyncio.gather(*(attempt(parked) for parked in rows))
        left = [str(parked.id) for parked, why in zip(rows, outcomes, strict=True) if why is None]
        if left:
            await pending_sql.done_all(conn, left)
        for parked, why in zip(rows, outcomes, strict=True):
            if why is not None:
                await pending_sql.postpone(conn, str(parked.id), why, backoff_seconds(parked.attempts + 1))
    return len(rows), len(left), len(rows) - len(left)


async def sample_queues(ctx: AppContext) -> None:
    """Sets the outbox depth and poison-count gauges (two queue reads; only when metrics
    are exported, from the drain timer, never on a request)."""
    if not metrics.enabled():
        return
    queue = ctx.settings.outbox_queue
    try:
        depth, poisoned = await asyncio.gather(ctx.queues.length(queue), ctx.queues.length(poison_queue(ctx)))
    except Exception as exc:  # noqa: BLE001 - a missed sample is no reason to fail the timer
        logger.debug("outbox queues not sampled: %s", type(exc).__name__)
        return
    metrics.outbox_queues(queue, depth, poison_queue(ctx), poisoned)

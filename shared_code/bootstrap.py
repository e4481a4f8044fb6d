"""Builds the process's one context: every client, pool, store, breaker, batcher and memo,
and the outbox's table of effects, created once and handed to the services.

This is the top floor of `shared_code`: it may import any service (to collect the effects
they define), and no service imports it. Handlers reach it through `get_context()`; tests
and benchmarks call `build_context(settings)` against the real local services, so they run
the same wiring as the deployed app.
"""

from __future__ import annotations

import asyncio
import functools

from shared_code.adapters.blobs import BlobStore
from shared_code.adapters.payment_providers import PaymentProviders
from shared_code.adapters.postgres.pool import Database
from shared_code.adapters.queues import QueueStore
from shared_code.adapters.redis.client import create_redis
from shared_code.adapters.redis.leaderboard import LeaderboardStore
from shared_code.adapters.redis.live_polls import PollStore
from shared_code.adapters.redis.live_room import RoomStore
from shared_code.adapters.redis.progress import ProgressStore
from shared_code.adapters.redis.ratelimit import RateLimiter
from shared_code.adapters.storage_account import StorageAccount
from shared_code.adapters.tables import TableStore
from shared_code.adapters.webpubsub import PubSub
from shared_code.auth import TokenVerifier
from shared_code.concurrency import BackgroundTasks, Breaker, ReadBatcher, SingleFlight, WriteBatcher
from shared_code.context import AppContext, ContentCacheState, Effect, LiveThrottles
from shared_code.heap import freeze_long_lived
from shared_code.platform import effects, users
from shared_code.services.admin import health
from shared_code.services.certificates import issue as certificates
from shared_code.services.live import attendance, chat, polls, presence, stage
from shared_code.services.notifications import delivery as notification_delivery
from shared_code.services.privacy import export_job as privacy_exports
from shared_code.services.progress import leaderboard, quiz_effects
from shared_code.settings import Settings, get_settings

# After a Redis error the content cache and the heartbeat path skip Redis this long.
REDIS_BREAKER_SECONDS = 2.0
# Concurrent Redis calls of the content cache per process (the pool refuses beyond its size).
CONTENT_CACHE_REDIS_SLOTS = 100


def effect_table() -> dict[str, Effect]:
    """Every outbox effect by kind: the plumbing's own and those services define."""
    return {
        **effects.plumbing(),
        "leaderboard.record": leaderboard.apply_attempt,
        attendance.ATTENDANCE_EFFECT: attendance.write_rows,
        **notification_delivery.effects(),
        **certificates.effects(),
        **quiz_effects.effects(),
        **privacy_exports.effects(),
    }


async def build_context(settings: Settings) -> AppContext:
    """A context with open pools; the caller closes it with `await ctx.close()`."""
    account = StorageAccount.from_settings(settings)
    redis = create_redis(settings)
    db = Database(settings)
    # One batcher for the reads and limits every request starts together (its rate limits,
    # the stored roles, its relation's cache entries), so they go out as one pipeline.
    reads = ReadBatcher(redis)
    ctx = AppContext(
        settings=settings,
        db=db,
        redis=redis,
        tables=TableStore(account),
        blobs=BlobStore.from_settings(settings),
        queues=QueueStore(account),
        pubsub=PubSub(settings),
        tokens=TokenVerifier(settings),
        payments=PaymentProviders(settings),
        effects=effect_table(),
        content_cache=ContentCacheState(
            reads=reads,
            flights=SingleFlight(),
            breaker=Breaker(REDIS_BREAKER_SECONDS),
            redis_slots=asyncio.Semaphore(CONTENT_CACHE_REDIS_SLOTS),
        ),
        rate_limits=RateLimiter(redis, reads),
        progress_store=ProgressStore(redis),
        progress_breaker=Breaker(REDIS_BREAKER_SECONDS),
        leaderboard_store=LeaderboardStore(redis),
        leaderboard_flights=SingleFlight(),
        throttles=LiveThrottles(
            presence=presence.presence_throttle(),
            tally=polls.tally_throttle(),
            reactions=stage.reaction_throttle(),
        ),
        poll_store=PollStore(redis),
        vote_writes=WriteBatcher(functools.partial(polls.write_votes, db)),
        room_store=RoomStore(redis),
        chat_writes=WriteBatcher(functools.partial(chat.write_messages, db)),
        parked_removals=WriteBatcher(functools.partial(quiz_effects.remove_parked, db)),
        attendance_rows=attendance.PendingRows(settings.attendance_flush_seconds),
        health=health.HealthMonitor(),
        background=BackgroundTasks(),
        account_reads=reads,
        account_loads=WriteBatcher(functools.partial(users.load_accounts, db, redis, settings.roles_cache_seconds)),
    )
    await ctx.db.open()
    return ctx


_context: AppContext | None = None
_lock: asyncio.Lock | None = None


async def get_context() -> AppContext:
    """The process-wide context; the first caller builds it."""
    global _context, _lock
    if _context is not None:
        return _context
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if _context is None:
            _context = await build_context(get_settings())
            # The context's clients, pools and caches live as long as the process.
            freeze_long_lived()
    return _context

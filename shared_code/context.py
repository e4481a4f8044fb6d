"""The dependencies every service takes: one value, built once per worker process.

`shared_code/bootstrap.py` builds it (handlers call `await bootstrap.get_context()`; tests
build their own against the real local services with `await bootstrap.build_context(settings)`).
Everything a process keeps between requests lives here, not in module globals: clients and
pools, the per-client script stores and batchers, breakers, single-flight tables and memos,
and the table of outbox effects. So a test that builds a fresh context starts from a fresh
process's state, and no module needs another one just to reach a shared object.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from shared_code.adapters.blobs import BlobStore
from shared_code.adapters.payment_providers import PaymentProviders
from shared_code.adapters.postgres.chat import NewMessage
from shared_code.adapters.postgres.polls import Vote
from shared_code.adapters.postgres.pool import Database
from shared_code.adapters.postgres.quizzes_attempts import AnswerKey
from shared_code.adapters.queues import QueueStore
from shared_code.adapters.redis.leaderboard import LeaderboardStore
from shared_code.adapters.redis.live_polls import PollStore
from shared_code.adapters.redis.live_room import RoomStore
from shared_code.adapters.redis.progress import ProgressStore
from shared_code.adapters.redis.ratelimit import RateLimiter
from shared_code.adapters.tables import TableStore
from shared_code.adapters.webpubsub import PubSub
from shared_code.auth import Account, TokenVerifier
from shared_code.concurrency import BackgroundTasks, Breaker, ReadBatcher, SingleFlight, WriteBatcher
from shared_code.settings import Settings

if TYPE_CHECKING:
    # Types only: these services take the context, so importing them here at run time
    # would be a cycle. The bootstrap (above both) builds them.
    from shared_code.services.admin.health import HealthMonitor
    from shared_code.services.live.attendance import PendingRows
    from shared_code.services.live.messages import Throttle

# An outbox effect: a side effect that must happen but may fail (see platform/effects.py).
Effect = Callable[["AppContext", dict[str, Any]], Awaitable[None]]


@dataclass
class ContentCacheState:
    """The content cache's per-process parts (platform/content_cache.py says why each exists)."""

    reads: ReadBatcher
    flights: SingleFlight
    breaker: Breaker
    # The client's pool refuses (rather than queues) calls beyond its size, so a herd of
    # hundreds of concurrent reads would otherwise fail on the client, not on Redis.
    redis_slots: asyncio.Semaphore
    # A lesson's course never changes, so the mapping is kept in process memory; nor does a
    # class's (negotiate reads the course beside the caller's checks once it knows it).
    lesson_course: dict[str, str] = field(default_factory=dict)
    class_course: dict[str, str] = field(default_factory=dict)
    # Hot entries arrive as the same text again and again: each text is parsed once.
    parsed: dict[str, Any] = field(default_factory=dict)
    # A lesson's answer as bytes, by (lesson id, whether the caller sees the asset): kept
    # with the parsed entry it was rendered from, and served only for that very entry.
    rendered: dict[tuple[str, bool], tuple[Any, bytes]] = field(default_factory=dict)
    # Quiz id → the quiz with its answer key and row version, for grading attempts in
    # memory; an attempt's statement writes only while the version holds
    # (services/progress/quiz_keys.py), so a copy another process's edit made stale costs
    # one reload, never a wrong grade.
    quiz_keys: dict[str, AnswerKey] = field(default_factory=dict)


@dataclass
class LiveThrottles:
    """At most one broadcast per interval per class, for each kind of throttled message."""

    presence: Throttle
    tally: Throttle
    reactions: Throttle

    async def drain(self) -> None:
        """Waits for every scheduled broadcast (shutdown and tests)."""
        for throttle in (self.presence, self.tally, self.reactions):
            await throttle.drain()


@dataclass
class AppContext:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    tables: TableStore
    blobs: BlobStore
    queues: QueueStore
    pubsub: PubSub
    tokens: TokenVerifier
    payments: PaymentProviders
    # kind → effect, for the outbox: the outbox runs what it is handed, so it imports no
    # service that writes through it.
    effects: dict[str, Effect]
    content_cache: ContentCacheState
    rate_limits: RateLimiter
    progress_store: ProgressStore
    # After a Redis error, heartbeats go straight to PostgreSQL for a moment.
    progress_breaker: Breaker
    leaderboard_store: LeaderboardStore
    leaderboard_flights: SingleFlight
    throttles: LiveThrottles
    # The vote script: concurrent votes share a pipeline.
    poll_store: PollStore
    # Votes that arrive together go to PostgreSQL in one statement per poll.
    vote_writes: WriteBatcher[Vote, bool]
    # The chat, hand and reaction scripts: concurrent events share a pipeline.
    room_store: RoomStore
    # Chat messages that arrive together go to PostgreSQL in one statement.
    chat_writes: WriteBatcher[NewMessage, None]
    # Parked effects that ran, removed together: one statement for the rows of many requests
    # (`services/progress/quiz_effects.py`).
    parked_removals: WriteBatcher[str, None]
    # The classes whose attendance rows (waiting in Redis) this process writes a moment later.
    attendance_rows: PendingRows
    # Health answers from its latest report (at most a few seconds old).
    health: HealthMonitor
    # Work started off a request's critical path; `await ctx.background.drain()` waits for it.
    background: BackgroundTasks
    # The stored-roles reads of concurrent requests, batched (`adapters/redis/accounts.py`).
    account_reads: ReadBatcher
    # Their cache misses, read from the users table together (`platform/users.py` `load_accounts`).
    account_loads: WriteBatcher[str, Account | None]
    # Subjects already known to have a users row; saves a write per request.
    known_users: set[str] = field(default_factory=set)

    async def close(self) -> None:
        await self.db.close()
        await self.redis.aclose()
        await self.tables.close()
        await self.blobs.close()
        await self.queues.close()
        await self.pubsub.close()
        await self.payments.close()

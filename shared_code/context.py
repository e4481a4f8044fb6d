"""The dependencies every service takes, built once per worker process.

Handlers call `await get_context()`; tests build their own `AppContext` against the real
local services with `AppContext.build(settings)`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis

from shared_code.adapters.blobs import BlobStore
from shared_code.adapters.postgres.pool import Database
from shared_code.adapters.queues import QueueStore
from shared_code.adapters.redis.client import create_redis
from shared_code.adapters.storage_account import StorageAccount
from shared_code.adapters.tables import TableStore
from shared_code.adapters.payment_providers import PaymentProviders
from shared_code.adapters.webpubsub import PubSub
from shared_code.auth import TokenVerifier
from shared_code.settings import Settings, get_settings


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

    @classmethod
    async def build(cls, settings: Settings) -> "AppContext":
        account = StorageAccount.from_settings(settings)
        ctx = cls(
            settings=settings,
            db=Database(settings),
            redis=create_redis(settings),
            tables=TableStore(account),
            blobs=BlobStore.from_settings(settings),
            queues=QueueStore(account),
            pubsub=PubSub(settings),
            tokens=TokenVerifier(settings),
            payments=PaymentProviders(settings),
        )
        await ctx.db.open()
        return ctx

    async def close(self) -> None:
        await self.db.close()
        await self.redis.aclose()
        await self.tables.close()
        await self.blobs.close()
        await self.queues.close()
        await self.pubsub.close()
        await self.payments.close()


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
            _context = await AppContext.build(get_settings())
    return _context

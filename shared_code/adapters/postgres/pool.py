"""The process-wide async PostgreSQL pool and the transaction helpers services use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from shared_code.adapters.identity import POSTGRES_SCOPE, EntraToken, app_credential, postgres_connect_kwargs
from shared_code.circuit import CircuitBreaker, database_failure
from shared_code.settings import Settings

# Fail fast when PostgreSQL is unreachable: a request should get its 503 quickly
# rather than wait for the pool's default half minute.
POOL_TIMEOUT_SECONDS = 5.0

# Every connection hands out rows as dicts keyed by column name (`row_factory=dict_row`);
# the adapters take and return these types so the checker knows it too.
Row = DictRow
Conn = AsyncConnection[DictRow]


class Database:
    """Owns the pool; every query goes through `connection()` or `transaction()`."""

    def __init__(self, settings: Settings, *, credential: AsyncTokenCredential | None = None) -> None:
        """With LECTERN_AUTH_MODE=identity each new connection signs in with an Entra token
        of `credential` (the process's managed identity unless given) as its password."""
        connect_kwargs: dict[str, Any] = {"row_factory": dict_row, "autocommit": True, "connect_timeout": 5}
        kwargs: Any = connect_kwargs
        if settings.uses_identity:
            token = EntraToken(credential or app_credential(), POSTGRES_SCOPE)
            kwargs = postgres_connect_kwargs(connect_kwargs, token)
        self.pool = AsyncConnectionPool(
            settings.postgres_url.get_secret_value(),
            connection_class=Conn,
            min_size=settings.postgres_pool_min,
            max_size=settings.postgres_pool_max,
            kwargs=kwargs,
            timeout=POOL_TIMEOUT_SECONDS,
            open=False,
            name="lectern",
        )
        # While PostgreSQL is down, requests get their 503 at once instead of each waiting
        # out the pool timeout; one probe at a time finds out when it is back.
        self.breaker = CircuitBreaker("postgresql", threshold=5, cooldown=2.0, is_failure=database_failure)

    async def open(self) -> None:
        # wait=False: the app starts even while PostgreSQL is down; queries then 503.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        if not self.breaker.admit():
            raise self.breaker.refusal()
        conn: Conn | None = None
        try:
            async with self.pool.connection() as conn:
                self.breaker.record_success()
                yield conn
        except BaseException as exc:
            # Only a connection that could not be had, or one that broke under the query,
            # says PostgreSQL is down; a failed statement is an answer from a live server.
            if (conn is None or conn.closed) and database_failure(exc):
                self.breaker.record_failure()
            elif conn is None:
                self.breaker.release_probe()
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        async with self.connection() as conn:
            async with conn.transaction():
                yield conn

    async def ping(self) -> None:
        async with self.connection() as conn:
            await conn.execute("SELECT 1")

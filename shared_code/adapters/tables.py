"""Azure Table storage: audit trail, content-access log, change log, attendance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableClient, TableServiceClient

from shared_code.adapters.azure_sdk import CLIENT_OPTIONS
from shared_code.adapters.storage_account import StorageAccount
from shared_code.circuit import CircuitBreaker, remote_failure

# A table write must never hold a request for long; callers queue it for retry instead.
TIMEOUT_SECONDS = 5


class TableStore:
    def __init__(self, account: StorageAccount) -> None:
        if account.connection_string:
            self.service = TableServiceClient.from_connection_string(
                account.connection_string,
                connection_timeout=TIMEOUT_SECONDS,
                read_timeout=TIMEOUT_SECONDS,
                retry_total=1,
                **CLIENT_OPTIONS,
            )
        else:
            self.service = TableServiceClient(
                endpoint=account.endpoint("table"), credential=account.credential(), retry_total=1,
                **CLIENT_OPTIONS,
            )
        self._ensured: set[str] = set()
        # One client per table, made once: building one costs more than the write it makes
        # (they share the service client's transport, which `close` closes).
        self._clients: dict[str, TableClient] = {}
        self._lock = asyncio.Lock()
        self.breaker = CircuitBreaker("table storage", is_failure=remote_failure)

    async def close(self) -> None:
        await self.service.close()

    async def ensure(self, table: str) -> None:
        if table in self._ensured:
            return
        async with self._lock:
            if table in self._ensured:
                return
            try:
                await self.service.create_table(table)
            except ResourceExistsError:
                pass
            self._ensured.add(table)

    def _client(self, table: str) -> TableClient:
        client = self._clients.get(table)
        if client is None:
            client = self._clients[table] = self.service.get_table_client(table)
        return client

    async def upsert(self, table: str, entity: dict[str, Any]) -> None:
        async with self.breaker.guard():
            await self.ensure(table)
            await self._client(table).upsert_entity(entity)

    async def insert(self, table: str, entity: dict[str, Any]) -> None:
        """Creates the entity and never replaces one: for rows that must stay as first
        written (the audit trail). A row already there is this write's earlier attempt."""
        async with self.breaker.guard():
            await self.ensure(table)
            try:
                await self._client(table).create_entity(entity)
            except ResourceExistsError:
                pass

    async def insert_batch(self, table: str, entities: list[dict[str, Any]]) -> None:
        """Upserts entities of one partition in transactions of at most 100 (the service limit)."""
        async with self.breaker.guard():
            await self.ensure(table)
            client = self._client(table)
            for start in range(0, len(entities), 100):
                await client.submit_transaction([("upsert", e) for e in entities[start : start + 100]])

    async def query(
        self,
        table: str,
        query_filter: str,
        parameters: dict[str, Any] | None = None,
        *,
        limit: int | None = None,
        select: list[str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        await self.ensure(table)
        client = self._client(table)
        count = 0
        async for entity in client.query_entities(
            query_filter, parameters=parameters or {}, select=select, results_per_page=min(limit or 1000, 1000)
        ):
            yield dict(entity)
            count += 1
            if limit is not None and count >= limit:
                return

    async def ping(self) -> None:
        async with self.breaker.guard():
            async for _ in self.service.list_tables(results_per_page=1):
                break

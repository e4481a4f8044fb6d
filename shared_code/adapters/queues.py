"""Storage queues: the retry (outbox) queue and its poison queue.

Messages are base64-encoded JSON, because the Functions host decodes queue messages as
base64 by default and would poison anything else.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from shared_code.adapters.azure_sdk import CLIENT_OPTIONS
from shared_code.adapters.storage_account import StorageAccount
from shared_code.circuit import CircuitBreaker, remote_failure

TIMEOUT_SECONDS = 5
# How far `take` looks for one message in a poison queue (pages of 32).
TAKE_SCAN_LIMIT = 1024


@dataclass(frozen=True)
class QueuedMessage:
    id: str
    pop_receipt: str | None
    dequeue_count: int
    inserted_on: str | None
    body: dict[str, Any] | None
    raw: str


class QueueStore:
    def __init__(self, account: StorageAccount) -> None:
        kwargs = {
            "message_encode_policy": BinaryBase64EncodePolicy(),
            "message_decode_policy": BinaryBase64DecodePolicy(),
            "connection_timeout": TIMEOUT_SECONDS,
            "read_timeout": TIMEOUT_SECONDS,
            # No SDK retry (its back-off starts at 15 s): a send that fails is parked in
            # PostgreSQL by the outbox at once, which is the retry.
            "retry_total": 0,
            **CLIENT_OPTIONS,
        }
        if account.connection_string:
            self.service = QueueServiceClient.from_connection_string(account.connection_string, **kwargs)
        else:
            self.service = QueueServiceClient(account_url=account.endpoint("queue"), credential=account.credential(), **kwargs)
        self._ensured: set[str] = set()
        self._lock = asyncio.Lock()
        # While Storage is down the outbox parks effects in PostgreSQL at once instead of
        # each request waiting on the queue's timeouts.
        self.breaker = CircuitBreaker("queue storage", is_failure=remote_failure)

    async def close(self) -> None:
        await self.service.close()

    def _client(self, queue: str) -> QueueClient:
        # The service client does not hand its encode/decode policies to the queue clients
        # it makes, so every queue client gets them explicitly.
        return self.service.get_queue_client(
            queue, message_encode_policy=BinaryBase64EncodePolicy(), message_decode_policy=BinaryBase64DecodePolicy()
        )

    async def ensure(self, queue: str) -> None:
        if queue in self._ensured:
            return
        async with self._lock:
            try:
                await self.service.create_queue(queue)
            except ResourceExistsError:
                pass
            self._ensured.add(queue)

    async def send(self, queue: str, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        data = json.dumps(body, separators=(",", ":"), default=str).encode()
        async with self.breaker.guard():
            await self.ensure(queue)
            sent = await self._client(queue).send_message(data, visibility_timeout=delay_seconds or None)
        return str(sent.id)

    async def peek_all(self, queue: str, *, limit: int = 32) -> list[QueuedMessage]:
        """Messages without hiding them (the admin view of a poison queue)."""
        async with self.breaker.guard():
            await self.ensure(queue)
            messages = await self._client(queue).peek_messages(max_messages=min(limit, 32))
        return [_decode(msg) for msg in messages]

    async def take(self, queue: str, message_id: str, *, visibility_seconds: int = 30) -> QueuedMessage | None:
        """Finds one message by id and hides it so it can be replayed then deleted.

        The others received on the way are made visible again at once, so the admin's
        listing does not lose them for the visibility timeout.
        """
        async with self.breaker.guard():
            await self.ensure(queue)
            client = self._client(queue)
            passed_over: list[Any] = []
            found: QueuedMessage | None = None
            pages = client.receive_messages(
                messages_per_page=32, visibility_timeout=visibility_seconds, max_messages=TAKE_SCAN_LIMIT
            ).by_page()
            try:
                # A page is received (and hidden) whole, so every message of it is accounted for.
                async for page in pages:
                    async for msg in page:
                        if found is None and msg.id == message_id:
                            found = _decode(msg)
                        else:
                            passed_over.append(msg)
                    if found is not None:
                        break
            finally:
                for msg in passed_over:
                    try:
                        await client.update_message(msg, pop_receipt=msg.pop_receipt, visibility_timeout=0)
                    except ResourceNotFoundError:
                        pass
        return found

    async def delete(self, queue: str, message: QueuedMessage) -> None:
        async with self.breaker.guard():
            try:
                await self._client(queue).delete_message(message.id, message.pop_receipt)
            except ResourceNotFoundError:
                pass

    async def length(self, queue: str) -> int:
        async with self.breaker.guard():
            await self.ensure(queue)
            props = await self._client(queue).get_queue_properties()
        return props.approximate_message_count or 0

    async def ping(self) -> None:
        async with self.breaker.guard():
            async for _ in self.service.list_queues(results_per_page=1):
                break


def _decode(msg: Any) -> QueuedMessage:
    content = msg.content
    raw = content.decode("utf-8", "replace") if isinstance(content, (bytes, bytearray)) else str(content)
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            body = None
    except ValueError:
        body = None
    inserted = msg.inserted_on.isoformat() if getattr(msg, "inserted_on", None) else None
    return QueuedMessage(
        id=msg.id,
        pop_receipt=getattr(msg, "pop_receipt", None),
        dequeue_count=msg.dequeue_count or 0,
        inserted_on=inserted,
        body=body,
        raw=raw,
    )

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
from azure.storage.queue.aio import QueueServiceClient

from shared_code.adapters.storage_account import StorageAccount

TIMEOUT_SECONDS = 5


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
            "retry_total": 1,
        }
        if account.connection_string:
            self.service = QueueServiceClient.from_connection_string(account.connection_string, **kwargs)
        else:
            self.service = QueueServiceClient(account_url=account.endpoint("queue"), credential=account.credential(), **kwargs)
        self._ensured: set[str] = set()
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self.service.close()

    def _client(self, queue: str):  # noqa: ANN202 - an azure.storage.queue.aio.QueueClient
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
        await self.ensure(queue)
        data = json.dumps(body, separators=(",", ":"), default=str).encode()
        sent = await self._client(queue).send_message(
            data, visibility_timeout=delay_seconds or None
        )
        return sent.id

    async def peek_all(self, queue: str, *, limit: int = 32) -> list[QueuedMessage]:
        """Messages without hiding them (the admin view of a poison queue)."""
        await self.ensure(queue)
        out = []
        for msg in await self._client(queue).peek_messages(max_messages=min(limit, 32)):
            out.append(_decode(msg))
        return out

    async def take(self, queue: str, message_id: str, *, visibility_seconds: int = 30) -> QueuedMessage | None:
        """Finds one message by id and hides it so it can be replayed then deleted."""
        await self.ensure(queue)
        client = self._client(queue)
        async for msg in client.receive_messages(messages_per_page=32, visibility_timeout=visibility_seconds, max_messages=32):
            if msg.id == message_id:
                return _decode(msg)
        return None

    async def delete(self, queue: str, message: QueuedMessage) -> None:
        try:
            await self._client(queue).delete_message(message.id, message.pop_receipt)
        except ResourceNotFoundError:
            pass

    async def length(self, queue: str) -> int:
        await self.ensure(queue)
        props = await self._client(queue).get_queue_properties()
        return props.approximate_message_count or 0

    async def ping(self) -> None:
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

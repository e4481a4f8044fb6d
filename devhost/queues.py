"""Queue triggers and queue output bindings on Azure Storage queues, with the host's semantics.

A listener per queue-triggered function polls its queue. While the queue is empty the
wait between polls doubles from 100 ms up to host.json's `maxPollingInterval`; a poll that
finds messages resets it. Messages arrive `batchSize` at a time, invisible to others while
they run, and run concurrently; the next batch is fetched once no more than
`newBatchThreshold` are still in flight. With `messageEncoding: base64` the body is
decoded first, and a message that is not valid base64 goes straight to the poison queue.

Success deletes the message. Failure makes it visible again after `visibilityTimeout`,
unless its dequeue count has reached `maxDequeueCount`: then it is copied, body unchanged,
to `<queue>-poison` and deleted. Retry policies do not apply here; redelivery is the retry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.functions import _abc as func_abc
from azure.functions.queue import QueueMessage as TriggerMessage
from azure.storage.queue import QueueMessage as StorageMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost.connections import resolve_app_settings, resolve_storage_connection
from devhost.host_config import QueueOptions
from devhost.indexing import IndexedFunction
from devhost.invocation import Invoker

logger = logging.getLogger("devhost")

MIN_POLLING_INTERVAL = 0.1
# How long a message stays invisible while its function runs; renewed halfway for long runs.
PROCESSING_VISIBILITY = 600
POISON_SUFFIX = "-poison"


def poison_queue_name(queue_name: str) -> str:
    return f"{queue_name}{POISON_SUFFIX}"


def decode_body(content: str, encoding: str) -> bytes | None:
    """The message body as the function sees it; None when base64 decoding fails."""
    if encoding != "base64":
        return content.encode("utf-8")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return None


def encode_body(body: bytes, encoding: str) -> str:
    return base64.b64encode(body).decode("ascii") if encoding == "base64" else body.decode("utf-8")


class StorageClients:
    """One queue service client per connection string, shared by every listener and output."""

    def __init__(self) -> None:
        self._services: dict[str, QueueServiceClient] = {}
        self._created: set[tuple[str, str]] = set()

    def queue(self, connection_string: str, queue_name: str) -> QueueClient:
        service = self._services.get(connection_string)
        if service is None:
            # Few SDK retries: a listener has its own back-off, and a storage outage should
            # surface in the log quickly instead of hiding behind long client-side retries.
            service = QueueServiceClient.from_connection_string(
                connection_string, retry_total=2, connection_timeout=5, read_timeout=30
            )
            self._services[connection_string] = service
        return service.get_queue_client(queue_name)

    async def ensure_queue(self, connection_string: str, client: QueueClient) -> None:
        """Creates the queue when the host has not seen it yet (the host creates missing queues)."""
        key = (connection_string, client.queue_name)
        if key in self._created:
            return
        try:
            await client.create_queue()
        except ResourceExistsError:
            pass
        self._created.add(key)

    def forget(self, connection_string: str, queue_name: str) -> None:
        """Marks a queue as unknown again, e.g. after it turned out to be gone."""
        self._created.discard((connection_string, queue_name))

    async def close(self) -> None:
        for service in self._services.values():
            await service.close()
        self._services.clear()


def _trigger_argument(function: IndexedFunction, message: TriggerMessage) -> Any:
    # The worker converts to the parameter's annotated type: str, bytes, or QueueMessage.
    annotation = function.annotations.get(function.trigger_name)
    if annotation is str:
        return message.get_body().decode("utf-8")
    if annotation is bytes:
        return message.get_body()
    return message


class QueueListener:
    """Runs one queue-triggered function against its queue until stopped."""

    def __init__(
        self,
        function: IndexedFunction,
        environ: Mapping[str, str],
        options: QueueOptions,
        invoker: Invoker,
        clients: StorageClients,
    ) -> None:
        self.function = function
        self.queue_name = resolve_app_settings(str(function.trigger["queueName"]), environ).lower()
        self.connection_string = resolve_storage_connection(function.trigger.get("connection"), environ)
        self.options = options
        self.invoker = invoker
        self.clients = clients
        self.queue = clients.queue(self.connection_string, self.queue_name)
        self.poison = clients.queue(self.connection_string, poison_queue_name(self.queue_name))
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_free = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._poll_forever(), name=f"queue:{self.queue_name}")

    async def stop(self, drain_seconds: float) -> None:
        """Stops fetching, then gives running invocations `drain_seconds` to finish."""
        self._stopping.set()
        self._slot_free.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=drain_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _poll_forever(self) -> None:
        delay = MIN_POLLING_INTERVAL
        while not self._stopping.is_set():
            if len(self._tasks) > self.options.new_batch_threshold:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                await self.clients.ensure_queue(self.connection_string, self.queue)
                messages = await self._receive_batch()
            except ResourceNotFoundError:
                self.clients.forget(self.connection_string, self.queue_name)
                messages = []
            except (AzureError, OSError) as exc:
                logger.warning(
                    "queue '%s': polling failed (%s); retrying in %.1fs",
                    self.queue_name,
                    exc.__class__.__name__,
                    self.options.max_polling_interval,
                )
                await self._sleep(self.options.max_polling_interval)
                continue
            if not messages:
                await self._sleep(delay)
                delay = min(delay * 2, self.options.max_polling_interval)
                continue
            delay = MIN_POLLING_INTERVAL
            for message in messages:
                task = asyncio.create_task(self._process_safely(message))
                self._tasks.add(task)
                task.add_done_callback(self._finished)

    async def _receive_batch(self) -> list[StorageMessage]:
        # One Get Messages call per poll, as the host makes; the pager would keep fetching.
        pages = self.queue.receive_messages(
            messages_per_page=self.options.batch_size, visibility_timeout=PROCESSING_VISIBILITY
        ).by_page()
        try:
            page = await pages.__anext__()
        except StopAsyncIteration:
            return []
        return [message async for message in page]

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if len(self._tasks) <= self.options.new_batch_threshold:
            self._slot_free.set()

    async def _process_safely(self, message: StorageMessage) -> None:
        try:
            await self._process(message)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one message's trouble must not stop the listener
            logger.exception("queue '%s': handling message %s failed", self.queue_name, message.id)

    async def _process(self, message: StorageMessage) -> None:
        body = decode_body(message.content, self.options.message_encoding)
        if body is None:
            logger.warning(
                "queue '%s': message %s is not valid base64; moving it to '%s'",
                self.queue_name, message.id, self.poison.queue_name,
            )
            await self._move_to_poison(message)
            return
        trigger_message = TriggerMessage(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        keeper = asyncio.create_task(self._keep_invisible(message))
        try:
            result = await self.invoker.invoke(
                self.function,
                {self.function.trigger_name: _trigger_argument(self.function, trigger_message)},
                reason=f"New queue message detected on '{self.queue_name}'.",
            )
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        try:
            if result.succeeded:
                await self.queue.delete_message(message.id, message.pop_receipt)
            elif (message.dequeue_count or 0) >= self.options.max_dequeue_count:
                logger.warning(
                    "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
                    self.options.max_dequeue_count, self.poison.queue_name,
                )
                await self._move_to_poison(message)
            else:
                await self.queue.update_message(
                    message.id, message.pop_receipt, visibility_timeout=int(self.options.visibility_timeout)
                )
        except (AzureError, OSError) as exc:
            # The message reappears when its processing visibility runs out, as after a crash.
            logger.warning("queue '%s': could not settle message %s: %s", self.queue_name, message.id, exc.__class__.__name__)

    async def _keep_invisible(self, message: StorageMessage) -> None:
        # Long invocations would otherwise let the message reappear while it still runs.
        while True:
            await asyncio.sleep(PROCESSING_VISIBILITY / 2)
            receipt = await self.queue.update_message(message.id, message.pop_receipt, visibility_timeout=PROCESSING_VISIBILITY)
            message.pop_receipt = receipt.pop_receipt

    async def _move_to_poison(self, message: StorageMessage) -> None:
        await self.clients.ensure_queue(self.connection_string, self.poison)
        # The raw content travels unchanged: still base64 when it was, still broken when it was.
        await self.poison.send_message(message.content)
        await self.queue.delete_message(message.id, message.pop_receipt)


class QueueOutputs:
    """Delivers values a function set on its queue output bindings (or returned to one)."""

    def __init__(self, environ: Mapping[str, str], options: QueueOptions, clients: StorageClients) -> None:
        self.environ = environ
        self.options = options
        self.clients = clients

    @staticmethod
    def wants(function: IndexedFunction) -> bool:
        return any(b.get("type") == "queue" for b in function.bindings)

    async def deliver(self, function: IndexedFunction, returned: Any, outputs: dict[str, Any]) -> None:
        for binding in function.bindings:
            if binding.get("type") != "queue" or str(binding.get("direction", "")).lower() != "out":
                continue
            name = str(binding["name"])
            value = returned if name == "$return" else outputs.get(name)
            if value is None:
                continue
            queue_name = resolve_app_settings(str(binding["queueName"]), self.environ).lower()
            connection = resolve_storage_connection(binding.get("connection"), self.environ)
            client = self.clients.queue(connection, queue_name)
            await self.clients.ensure_queue(connection, client)
            for item in value if isinstance(value, (list, tuple)) else [value]:
                await client.send_message(encode_body(self._body(item), self.options.message_encoding))

    @staticmethod
    def _body(item: Any) -> bytes:
        if isinstance(item, func_abc.QueueMessage):
            return item.get_body()
        if isinstance(item, bytes):
            return item
        if isinstance(item, str):
            return item.encode("utf-8")
        raise TypeError(f"a queue output takes str, bytes or func.QueueMessage, not {type(item).__name__}")

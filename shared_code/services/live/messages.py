"""How the server talks to a live class: the message envelope, group sends, and throttled
broadcasts that turn a storm of changes into a few messages per second.

Every server → client message is `{type, classId, seq, at, ...}`. Class-wide messages
take the class's next `seq` in the same Redis script that applies their change, so a
client that sees `seq` jump by more than one knows it missed something and fetches
`GET /api/classes/{classId}/state`. Messages to one user (acknowledgements) carry the
class's current `seq` without taking a new one, so they never open a gap for others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from shared_code.adapters.redis import live as live_redis
from shared_code.concurrency import BackgroundTasks
from shared_code.context import AppContext
from shared_code.platform import outbox

logger = logging.getLogger("lectern.live")


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_ms(ms: int) -> str:
    """UTC ISO-8601 with milliseconds, the `at` of every message."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def class_group(class_id: str) -> str:
    return f"class.{class_id}"


def course_group(course_id: str) -> str:
    return f"course.{course_id}"


def user_group(user_id: str) -> str:
    return f"user.{user_id}"


def envelope(message_type: str, class_id: str, seq: int, at_ms: int, **fields: Any) -> dict[str, Any]:
    """A server → client message: the four fields every message has, then its own."""
    reserved = {"type", "classId", "seq", "at"}.intersection(fields)
    if reserved:
        raise ValueError(f"message fields may not override {sorted(reserved)}")
    return {"type": message_type, "classId": class_id, "seq": seq, "at": iso_ms(at_ms), **fields}


async def to_class(ctx: AppContext, class_id: str, message: dict[str, Any]) -> None:
    """One group send to everyone in the class; retried through the outbox when it fails.

    Never raises: the change it announces is already stored, and a client that misses the
    message sees the gap in `seq` and fetches the state.
    """
    try:
        await outbox.perform(ctx, "pubsub.group", {"group": class_group(class_id), "message": message})
    except Exception:  # noqa: BLE001 - neither the send nor its retry could be arranged
        logger.exception("could not send %s to class %s", message.get("type"), class_id)


async def to_class_now(ctx: AppContext, class_id: str, message: dict[str, Any]) -> None:
    """A group send that is not retried: for throttled snapshots that the next one supersedes."""
    try:
        await ctx.pubsub.send_to_group(class_group(class_id), message)
    except Exception as exc:  # noqa: BLE001 - not retried on purpose: the next snapshot supersedes this one
        logger.warning("%s for class %s not sent: %s", message.get("type"), class_id, type(exc).__name__)


# --- throttled broadcasts ---------------------------------------------------------------
Claim = Callable[[Any, str], Awaitable[bool]]
Flush = Callable[[Any, str], Awaitable[None]]


class Throttle:
    """At most one broadcast per `interval` per key, and never a lost last change.

    A change calls `changed(ctx, key)`. The first caller that `claim`s the key's "pending"
    flag (in Redis: SET NX, shared by every worker process) schedules one `flush` after
    the interval; later callers find the flag set and do nothing, because the flush reads
    the state when it runs and so carries their change too. The flush clears the flag in
    the same step as it reads the state, so a change made after that read finds no flag
    and schedules the next flush itself.

    A process that has a flush of its own scheduled for the key skips the claim: the flag
    is certainly set, and a vote storm saves a Redis round trip per vote.
    """

    def __init__(self, name: str, claim: Claim, flush: Flush, *, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.name = name
        self._claim = claim
        self._flush = flush
        self._sleep = sleep
        self._tasks = BackgroundTasks()
        self._scheduled: set[str] = set()

    async def changed(self, ctx: Any, key: str, interval_seconds: float) -> bool:
        """True when this call scheduled the next flush."""
        if key in self._scheduled:
            return False
        if not await self._claim(ctx, key):
            return False
        return self.claimed(ctx, key, interval_seconds)

    def claimed(self, ctx: Any, key: str, interval_seconds: float) -> bool:
        """Schedules the flush for a caller that won the key's pending flag itself, in the
        same script as its change (a vote); True when this call scheduled it."""
        if key in self._scheduled:
            return False  # the flush already scheduled clears the flag when it reads
        self._scheduled.add(key)
        self._tasks.spawn(self._later(ctx, key, interval_seconds))
        return True

    async def _later(self, ctx: Any, key: str, interval_seconds: float) -> None:
        try:
            await self._sleep(interval_seconds)
        finally:
            # Before the flush reads the state: a change after this line claims again, and the
            # flag it finds still set means the read below carries that change.
            self._scheduled.discard(key)
        try:
            await self._flush(ctx, key)
        except Exception:  # noqa: BLE001 - the flag's expiry lets a later change retry
            logger.exception("%s broadcast for %s failed", self.name, key)

    async def drain(self) -> None:
        """Waits for scheduled flushes (tests and shutdown)."""
        await self._tasks.drain()


def hold_ms(ctx: AppContext) -> int:
    """How long a pending flag may outlive a worker that died before flushing."""
    return max(1000, ctx.settings.broadcast_interval_ms * 8)


def pending_flag(topic: str) -> Claim:
    """The claim every class broadcast throttle uses: the class's pending flag for `topic`
    in Redis, shared by every worker process."""

    async def claim(ctx: AppContext, class_id: str) -> bool:
        return await live_redis.claim_broadcast(ctx.redis, class_id, topic, hold_ms(ctx))

    return claim


def interval_seconds(ctx: AppContext) -> float:
    return ctx.settings.broadcast_interval_ms / 1000


# --- client events ----------------------------------------------------------------------
class Refused(Exception):
    """A client event the server will not carry out; the sender's acknowledgement says why.

    `reason` is a stable slug clients branch on (`muted`, `rate-limited`, `poll-closed`,
    ...); `detail` is for people.
    """

    def __init__(self, reason: str, detail: str = "", *, retry_after_ms: int | None = None, seq: int = 0) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail
        self.retry_after_ms = retry_after_ms
        self.seq = seq  # the class's current seq when the refusing call already read it


def ack(event: str, class_id: str, seq: int, *, ok: bool, ref: str | None = None, **fields: Any) -> dict[str, Any]:
    """The reply to a client event, delivered to its sender only (never takes a new seq)."""
    body = envelope("ack", class_id, seq, now_ms(), event=event, ok=ok, **fields)
    if ref is not None:
        body["ref"] = ref
    return body

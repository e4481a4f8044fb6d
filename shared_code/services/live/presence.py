"""Who is in a live class right now, and how everyone learns the head count.

Presence is kept per connection in Redis (connection → user, user → open connections), so
several tabs of one user count once and a repeated `connect` event counts nothing. A member
becomes present in `connect` (Web PubSub sends `disconnected` after every `connect` it
accepted); a connection whose `disconnected` never came leaves when a heal finds it gone
(`admission.py`) or the timer's sweep does (`presence_sweep.py`). `presence.updated` is
throttled per class: however many people join at once, the class gets a few messages per
second, each with the count at the moment it is sent.
"""

from __future__ import annotations

import logging

from shared_code.adapters.postgres import classes as classes_sql
from shared_code.adapters.redis import live_presence as presence_redis
from shared_code.adapters.redis.live_presence import Join, Leave
from shared_code.context import AppContext
from shared_code.platform import outbox
from shared_code.services.live import hands
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import Member
from shared_code.services.live.messages import Throttle

logger = logging.getLogger("lectern.live")


async def _flush(ctx: AppContext, class_id: str) -> None:
    at = live_messages.now_ms()
    seq, count = await presence_redis.flush_presence(ctx.redis, class_id, at)
    await live_messages.to_class_now(
        ctx, class_id, live_messages.envelope("presence.updated", class_id, seq, at, count=count)
    )


def presence_throttle() -> Throttle:
    """This module's broadcast throttle; the bootstrap builds one per process (`ctx.throttles`)."""
    return Throttle("presence", live_messages.pending_flag("presence"), _flush)


async def joined(ctx: AppContext, class_id: str, connection_id: str, user_id: str, name: str) -> int:
    """A connection entered the class; returns the presence count."""
    result = await presence_redis.join(ctx.redis, class_id, connection_id, user_id, name)
    _attend(ctx, class_id, result)
    if result.first_connection:
        await ctx.throttles.presence.changed(ctx, class_id, live_messages.interval_seconds(ctx))
    return result.count


def admitted(ctx: AppContext, member: Member, result: Join, claimed: bool) -> None:
    """What follows a join made inside the ticketed connect's one Redis call
    (`admission.admit_ticketed`): the attendance row, and the presence broadcast when that
    call claimed it (when it did not, the broadcast already pending carries this join)."""
    _attend(ctx, member.class_id, result)
    if claimed:
        ctx.throttles.presence.claimed(ctx, member.class_id, live_messages.interval_seconds(ctx))


def _attend(ctx: AppContext, class_id: str, result: Join) -> None:
    if result.added:
        # The join script left the row in the class's attendance stream; it goes to Table
        # storage with the next batch.
        ctx.attendance_rows.noted(ctx, class_id)


async def left(ctx: AppContext, class_id: str, connection_id: str) -> tuple[bool, int]:
    """A connection left; returns (whether it was the user's last one, the presence count)."""
    result = await _leave(ctx, class_id, connection_id)
    return result.last_connection, result.count


async def forget_lost(ctx: AppContext, class_id: str, connection_ids: list[str]) -> None:
    """Connections Web PubSub no longer has but whose `disconnected` never came (the event
    was lost, or the service never got our answer to their `connect`) leave the class as
    that event would have made them: attendance, the head count, and the raised hand of a
    user who thereby left."""
    for connection_id in connection_ids:
        result = await _leave(ctx, class_id, connection_id)
        if result.last_connection and result.user_id:
            await hands.lower(ctx, class_id, result.user_id, by=result.user_id)


async def _leave(ctx: AppContext, class_id: str, connection_id: str) -> Leave:
    result = await presence_redis.leave(ctx.redis, class_id, connection_id)
    if result.removed:
        # The leave script left the row in the stream. A leave row names no one (its join
        # row does): a disconnect that lands after the user's erasure (services/privacy
        # closes their connections) must not bring the name back.
        ctx.attendance_rows.noted(ctx, class_id)
    if result.last_connection:
        await ctx.throttles.presence.changed(ctx, class_id, live_messages.interval_seconds(ctx))
    return result


async def connections_of(ctx: AppContext, class_id: str, user_id: str) -> list[str]:
    return [c for c, u in (await presence_redis.connections(ctx.redis, class_id)).items() if u == user_id]


async def leave_course_classes(ctx: AppContext, course_id: str, user_id: str, reason: str) -> None:
    """Closes a former member's connections to the course's running classes (a refund, an
    unenrolment): membership is checked when a connection joins, so an open one would
    otherwise keep the stream. A close that fails is retried through the outbox."""
    async with ctx.db.connection() as conn:
        running = await classes_sql.live_in_course(conn, course_id)
    for klass in running:
        for connection_id in await connections_of(ctx, str(klass.id), user_id):
            await outbox.perform(ctx, "pubsub.close_connection", {"connectionId": connection_id, "reason": reason})

"""Chat in a live class: checked, rate-limited, stored, then sent to the class in one group send.

A message is refused when it is empty or longer than `LECTERN_CHAT_MAX_LENGTH`, when the
sender is muted or removed, when the class has ended, or when the sender exceeds
`LECTERN_RATE_CHAT_PER_10S`. Otherwise it takes the class's next seq (and its place in the
recent-chat list the state snapshot shows), is stored in `chat_messages`, and goes to the
class as `chat.message`. The group send completes before the sender's acknowledgement, so
one sender's messages reach everyone in the order they were acknowledged.

A message costs one Redis round trip and a share of one PostgreSQL statement:

- One script decides and posts (`adapters/redis/live_room.py`): the class's status, the
  sender's moderation flags, the rate limit, the seq and the recent-chat entry, in the
  order the refusals were always given; concurrent messages share its pipeline. Its answer
  carries the class's seq, so a refusal is acknowledged without another read. A class
  whose status or flags Redis lost is filled from PostgreSQL and asked again.
- The messages that arrive together are stored by one INSERT (`ctx.chat_writes`,
  `write_messages`), and each sender is acknowledged only after that statement committed,
  so the history shows every acknowledged message. A statement that fails refuses only
  its own messages (one whose row PostgreSQL rejects, only itself: the rest are written
  one by one), and each refused message leaves the recent-chat list again.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from redis.exceptions import RedisError

from shared_code.adapters.postgres import chat as chat_sql
from shared_code.adapters.postgres.chat import NewMessage
from shared_code.adapters.postgres.pool import Database
from shared_code.adapters.redis import live as live_redis
from shared_code.adapters.redis.live_room import Outcome, Rate
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.ratelimit import emission_interval_ms
from shared_code.errors import FieldError, ValidationFailed
from shared_code.models.live import ChatEvent, ChatMessage, ChatPage, ChatQuery
from shared_code.pagination import decode_cursor, encode_cursor
from shared_code.services.live import class_access
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import ClassAccess, Member
from shared_code.services.live.messages import Refused

logger = logging.getLogger("lectern.live")

RATE_PERIOD_MS = 10_000

# What a refusal of the chat script says, by its code.
_REFUSALS = {
    "ended": ("class-ended", "The class has ended."),
    "removed": ("removed", "You were removed from this class."),
    "muted": ("muted", "The tutor has muted you in this class."),
}


def check_text(text: str, max_length: int) -> str:
    """The text as it will be stored, or `Refused` saying why not."""
    cleaned = text.strip()
    if not cleaned:
        raise Refused("empty", "A chat message needs some text.")
    if len(cleaned) > max_length:
        raise Refused("too-long", f"A chat message may have at most {max_length} characters.")
    return cleaned


async def write_messages(db: Database, messages: list[NewMessage]) -> list[None | Exception]:
    """What `ctx.chat_writes` sends: the messages that arrived together, in one statement.

    When PostgreSQL rejects the statement for what a row holds (not because it is down),
    the messages are written one by one, so one sender's bad row refuses only that
    message; when it fails otherwise, every message of this batch is refused.
    """
    try:
        async with db.connection() as conn:
            await chat_sql.insert_messages(conn, messages)
        return [None] * len(messages)
    except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as exc:
        if len(messages) == 1:
            return [exc]
    answers: list[None | Exception] = []
    for message in messages:
        try:
            async with db.connection() as conn:
                await chat_sql.insert_messages(conn, [message])
            answers.append(None)
        except Exception as exc:  # noqa: BLE001 - answered to that message's sender
            answers.append(exc)
    return answers


async def _refused_without_redis(ctx: AppContext, member: Member) -> None:
    """While Redis is down, a sender who would be refused anyway (the class ended, they were
    removed or muted) still learns why: both facts fall back to PostgreSQL."""
    meta = await class_access.class_meta(ctx, member.class_id)
    if meta.status == "ended":
        raise Refused(*_REFUSALS["ended"])
    flags = await class_access.moderation_flags(ctx, member.class_id, member.user_id)
    if "b" in flags:
        raise Refused(*_REFUSALS["removed"])
    if "m" in flags and not member.is_staff:
        raise Refused(*_REFUSALS["muted"])


async def _post(ctx: AppContext, member: Member, message: NewMessage, at: str, now_ms: int) -> Outcome:
    limit = ctx.settings.rate_limit_chat_per_10s
    rate = Rate(emission_interval_ms(limit, RATE_PERIOD_MS), limit)
    for _ in range(3):
        outcome = await ctx.room_store.post_chat(
            member.class_id, message_id=message.id, user_id=member.user_id, user_name=member.name,
            text=message.text, at=at, now_ms=now_ms, staff=member.is_staff, rate=rate,
        )
        if outcome.code == "cold-meta":
            await class_access.class_meta(ctx, member.class_id)  # fills Redis from PostgreSQL
        elif outcome.code == "cold-flags":
            await class_access.moderation_flags(ctx, member.class_id, member.user_id)  # the same
        else:
            return outcome
    raise Refused("unavailable", "Live features are briefly unavailable; try again.")


async def post(ctx: AppContext, member: Member, event: ChatEvent) -> dict[str, Any]:
    text = check_text(event.text, ctx.settings.chat_max_length)
    at = live_messages.now_ms()
    message = NewMessage(
        id=str(uuid.uuid4()), class_id=member.class_id, user_id=member.user_id, user_name=member.name, text=text,
        seq=0, created_at=datetime.fromtimestamp(at / 1000, tz=UTC),
    )
    try:
        outcome = await _post(ctx, member, message, live_messages.iso_ms(at), at)
    except RedisError:
        await _refused_without_redis(ctx, member)
        raise
    if outcome.code == "rate":
        raise Refused("rate-limited", "Too many messages; wait a moment.", retry_after_ms=outcome.retry_after_ms,
                      seq=outcome.seq)
    if outcome.code != "ok":
        reason, detail = _REFUSALS.get(outcome.code, ("unavailable", "The message could not be sent; send it again."))
        raise Refused(reason, detail, seq=outcome.seq)

    seq = outcome.seq
    try:
        await ctx.chat_writes.submit(dataclasses.replace(message, seq=seq))
    except Exception as exc:  # noqa: BLE001 - whatever failed, the message was not stored
        logger.warning("chat message not stored: %s", type(exc).__name__)
        # Not stored means not sent: take it back out of the snapshot's recent list.
        try:
            await live_redis.forget_chat(ctx.redis, member.class_id, message.id)
        except RedisError:
            pass
        raise Refused("unavailable", "The message could not be stored; send it again.", seq=seq) from None
    await live_messages.to_class(
        ctx,
        member.class_id,
        live_messages.envelope(
            "chat.message", member.class_id, seq, at,
            id=message.id, userId=member.user_id, userName=member.name, text=text,
        ),
    )
    return {"seq": seq, "messageId": message.id}


def message_from_row(row: dict[str, Any]) -> ChatMessage:
    return ChatMessage(
        id=row["id"], class_id=row["class_id"], user_id=row["user_id"], user_name=row["user_name"],
        text=row["text"], seq=row["seq"], at=row["created_at"],
    )


async def history(
    ctx: AppContext, principal: Principal, class_id: str, q: ChatQuery, *, found: ClassAccess | None = None
) -> ChatPage:
    """Chat of the class, newest first; deleted messages are left out."""
    if found is None:
        await class_access.require_member(ctx, principal, class_id)
    cursor = decode_cursor(q.cursor)
    before: int | None = None
    if cursor is not None:
        if not isinstance(cursor.get("seq"), int):
            raise ValidationFailed(errors=[FieldError("cursor", "not a cursor this API issued")])
        before = cursor["seq"]
    async with ctx.db.connection() as conn:
        rows = await chat_sql.page(conn, class_id, q.limit + 1, before)
    items = [message_from_row(r) for r in rows[: q.limit]]
    next_cursor = encode_cursor({"seq": items[-1].seq}) if len(rows) > q.limit and items else None
    return ChatPage(items=items, next_cursor=next_cursor)

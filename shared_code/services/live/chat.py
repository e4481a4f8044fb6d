"""Chat in a live class: checked, rate-limited, stored, then sent to the class in one group send.

A message is refused when it is empty or longer than `LECTERN_CHAT_MAX_LENGTH`, when the
sender is muted or removed, when the class has ended, or when the sender exceeds
`LECTERN_RATE_CHAT_PER_10S`. Otherwise it takes the class's next seq (and its place in the
recent-chat list the state snapshot shows), is stored in `chat_messages`, and goes to the
class as `chat.message`. The group send completes before the sender's acknowledgement, so
one sender's messages reach everyone in the order they were acknowledged.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shared_code.adapters.postgres import chat as chat_sql
from shared_code.adapters.redis import live as live_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import FieldError, ValidationFailed
from shared_code.models.live import ChatEvent, ChatMessage, ChatPage, ChatQuery
from shared_code.pagination import decode_cursor, encode_cursor
from shared_code.services.live import class_access
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import ClassAccess, Member
from shared_code.services.live.messages import Refused

RATE_PERIOD_MS = 10_000


def check_text(text: str, max_length: int) -> str:
    """The text as it will be stored, or `Refused` saying why not."""
    cleaned = text.strip()
    if not cleaned:
        raise Refused("empty", "A chat message needs some text.")
    if len(cleaned) > max_length:
        raise Refused("too-long", f"A chat message may have at most {max_length} characters.")
    return cleaned


async def post(ctx: AppContext, member: Member, event: ChatEvent) -> dict[str, Any]:
    text = check_text(event.text, ctx.settings.chat_max_length)
    meta = await class_access.class_meta(ctx, member.class_id)
    if meta.status == "ended":
        raise Refused("class-ended", "The class has ended.")
    flags = await class_access.moderation_flags(ctx, member.class_id, member.user_id)
    if "b" in flags:
        raise Refused("removed", "You were removed from this class.")
    if "m" in flags and not member.is_staff:
        raise Refused("muted", "The tutor has muted you in this class.")
    decision = await ctx.rate_limits.allow(
        "chat", f"{member.class_id}:{member.user_id}",
        limit=ctx.settings.rate_limit_chat_per_10s, period_ms=RATE_PERIOD_MS,
    )
    if not decision.allowed:
        raise Refused("rate-limited", "Too many messages; wait a moment.", retry_after_ms=decision.retry_after_ms)

    message_id = str(uuid.uuid4())
    at = live_messages.now_ms()
    at_iso = live_messages.iso_ms(at)
    seq = await live_redis.post_chat(
        ctx.redis, member.class_id, message_id=message_id, user_id=member.user_id, user_name=member.name,
        text=text, at=at_iso, now_ms=at,
    )
    try:
        async with ctx.db.connection() as conn:
            await chat_sql.insert_message(
                conn, message_id, member.class_id, member.user_id, member.name, text, seq,
                datetime.fromtimestamp(at / 1000, tz=UTC),
            )
    except Exception:
        # Not stored means not sent: take it back out of the snapshot's recent list.
        await live_redis.forget_chat(ctx.redis, member.class_id, message_id)
        raise Refused("unavailable", "The message could not be stored; send it again.") from None
    await live_messages.to_class(
        ctx,
        member.class_id,
        live_messages.envelope(
            "chat.message", member.class_id, seq, at,
            id=message_id, userId=member.user_id, userName=member.name, text=text,
        ),
    )
    return {"seq": seq, "messageId": message_id}


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

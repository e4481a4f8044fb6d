"""Moderation of a live class by its tutor or an admin: mute, unmute, remove, delete a message,
lower a hand. Every action is stored, audited and announced to the class.

Mute and removal are stored in `class_moderation` (the lasting copy) and written through to
the class's Redis flags, which chat and connect read. Removal also closes the user's
connections to this class (after `moderation.removed` went out, so their page knows why)
and keeps them from negotiating or connecting again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from redis.exceptions import RedisError

from shared_code.adapters.postgres import chat as chat_sql
from shared_code.adapters.postgres import moderation as moderation_sql
from shared_code.adapters.redis import live as live_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import NotFound
from shared_code.models.live import ModerationRequest, ModerationResult
from shared_code.platform import audit, outbox
from shared_code.services.live import class_access, hands, presence
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import ClassAccess

logger = logging.getLogger("lectern.live")


async def _set_flags(
    ctx: AppContext, class_id: str, user_id: str, by: str, *, muted: bool | None = None, banned: bool | None = None
) -> dict[str, Any]:
    try:
        async with ctx.db.connection() as conn:
            row = await moderation_sql.set_flags(conn, class_id, user_id, muted=muted, banned=banned, updated_by=by)
    except psycopg.errors.ForeignKeyViolation:
        raise NotFound("No such user.") from None
    flags = class_access.flags_text(row["muted"], row["banned"])
    try:
        await live_redis.set_moderation(ctx.redis, class_id, user_id, flags)
    except RedisError as exc:
        # Readers fall back to PostgreSQL while Redis is down, so the stored flags still hold.
        logger.warning("moderation cache not updated: %s", type(exc).__name__)
    return row


async def _announce(ctx: AppContext, class_id: str, message_type: str, **fields: object) -> int | None:
    at = live_messages.now_ms()
    try:
        seq = await live_redis.emit(ctx.redis, class_id, at)
    except RedisError as exc:
        logger.warning("%s not sent, no seq: %s", message_type, type(exc).__name__)
        return None
    await live_messages.to_class(ctx, class_id, live_messages.envelope(message_type, class_id, seq, at, **fields))
    return seq


async def _close_connections(ctx: AppContext, class_id: str, user_id: str) -> int:
    """Closes the user's connections to this class (not to other classes). A close that
    fails is retried through the outbox: a removed student must not keep the stream."""
    connection_ids = await presence.connections_of(ctx, class_id, user_id)
    results = await asyncio.gather(
        *(outbox.perform(ctx, "pubsub.close_connection", {"connectionId": c, "reason": "Removed from the class by its tutor."})
          for c in connection_ids),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, Exception):
            logger.warning("could not close a removed user's connection: %s", type(result).__name__)
    return len(connection_ids)


async def moderate(
    ctx: AppContext, principal: Principal, class_id: str, body: ModerationRequest, *, found: ClassAccess | None = None
) -> ModerationResult:
    if found is None:
        await class_access.require_manager(ctx, principal, class_id)
    by = principal.user_id
    user_id = str(body.user_id) if body.user_id else None
    target = f"class:{class_id}"
    seq: int | None = None
    changed = True

    if body.action in ("mute", "unmute"):
        assert user_id is not None
        muted = body.action == "mute"
        await _set_flags(ctx, class_id, user_id, by, muted=muted)
        seq = await _announce(ctx, class_id, "moderation.muted", userId=user_id, muted=muted, by=by)
    elif body.action == "remove":
        assert user_id is not None
        await _set_flags(ctx, class_id, user_id, by, banned=True)
        seq = await _announce(ctx, class_id, "moderation.removed", userId=user_id, by=by)
        try:
            await hands.lower(ctx, class_id, user_id, by=by)
            await _close_connections(ctx, class_id, user_id)
        except RedisError as exc:
            logger.warning("removed user's connections not closed: %s", type(exc).__name__)
    elif body.action == "deleteMessage":
        message_id = str(body.message_id)
        async with ctx.db.connection() as conn:
            outcome = await chat_sql.mark_deleted(conn, class_id, message_id, by)
        if outcome is None:
            raise NotFound("This class has no such message.")
        changed = outcome == "deleted"
        if changed:
            at = live_messages.now_ms()
            seq = await live_redis.delete_chat(ctx.redis, class_id, message_id, at)
            await live_messages.to_class(
                ctx, class_id, live_messages.envelope("chat.deleted", class_id, seq, at, messageId=message_id, by=by)
            )
    else:  # lowerHand
        assert user_id is not None
        seq = await hands.lower(ctx, class_id, user_id, by=by) or None
        changed = seq is not None

    await audit.record(
        ctx, principal, f"class.moderation.{body.action}", target,
        {"userId": user_id, "messageId": str(body.message_id) if body.message_id else None, "changed": changed},
    )
    return ModerationResult(action=body.action, user_id=body.user_id, message_id=body.message_id, changed=changed, seq=seq)

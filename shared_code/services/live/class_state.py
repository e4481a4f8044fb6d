"""The snapshot of a live class at one `seq`: what a client that reconnects, or that saw a
gap in the sequence, loads to be whole again.

It is read from Redis by one script, so the seq and the state agree: the snapshot holds
the effect of every message up to its seq and of none after it (presence may be a little
newer, since presence counts change without messages). A client applies the snapshot,
then only messages with a larger seq. What Redis lost (a restart mid-class) is put back
from PostgreSQL first: the class's status, its open poll with the stored votes, and the
recent chat.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from redis.exceptions import RedisError

from shared_code.adapters.postgres import chat as chat_sql
from shared_code.adapters.postgres import polls as polls_sql
from shared_code.adapters.redis import live as live_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import ServiceUnavailable
from shared_code.models.live import ChatMessage, ClassState, RaisedHand, ScreenShareState
from shared_code.services.live import class_access, polls
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import ClassAccess

logger = logging.getLogger("lectern.live")

RECENT_CHAT = 20


async def _restore_open_poll(ctx: AppContext, class_id: str) -> bool:
    """Puts the class's open poll (with its stored votes) back into Redis; False when none is open."""
    async with ctx.db.connection() as conn:
        row = await polls_sql.open_poll_of_class(conn, class_id)
        votes = await polls_sql.votes(conn, str(row.id)) if row else {}
    if row is None:
        return False
    return await polls.restore_open(ctx, class_id, row, votes)


async def _restore_recent_chat(ctx: AppContext, class_id: str) -> None:
    if await live_redis.has_recent_chat(ctx.redis, class_id):
        return
    async with ctx.db.connection() as conn:
        rows = await chat_sql.page(conn, class_id, RECENT_CHAT, None)
    await live_redis.restore_recent_chat(
        ctx.redis, class_id,
        [
            {"id": str(r["id"]), "userId": str(r["user_id"]), "userName": r["user_name"], "text": r["text"],
             "at": r["created_at"].isoformat(), "seq": r["seq"]}
            for r in rows
        ],
    )


def _chat_item(class_id: str, item: dict[str, Any]) -> ChatMessage | None:
    try:
        return ChatMessage(
            id=item["id"], class_id=class_id, user_id=item["userId"], user_name=item.get("userName", ""),
            text=item["text"], seq=int(item["seq"]), at=item["at"],
        )
    except (KeyError, ValueError, TypeError):
        return None


async def snapshot(ctx: AppContext, class_id: str, *, user_id: str | None = None) -> ClassState:
    """The class's live state at one seq (without the membership check)."""
    meta = await class_access.class_meta(ctx, class_id)
    try:
        if meta.cold:
            await _restore_recent_chat(ctx, class_id)
        snap = await live_redis.snapshot(ctx.redis, class_id, live_messages.now_ms(), RECENT_CHAT)
        # An open poll missing from Redis (lost or evicted) is put back from PostgreSQL.
        if snap.meta.get("status", meta.status) == "live" and not snap.poll and await _restore_open_poll(ctx, class_id):
            snap = await live_redis.snapshot(ctx.redis, class_id, live_messages.now_ms(), RECENT_CHAT)
    except RedisError as exc:
        raise ServiceUnavailable("The live state is unavailable; retry shortly.", retry_after=2) from exc
    status = snap.meta.get("status", meta.status)
    share = None
    if snap.meta.get("screenShare"):
        try:
            raw = json.loads(snap.meta["screenShare"])
            share = ScreenShareState(stream_url=raw["streamUrl"], started_at=raw["startedAt"], user_id=raw["userId"])
        except (ValueError, KeyError, TypeError):
            share = None
    chat = [m for m in (_chat_item(class_id, i) for i in snap.recent_chat) if m is not None]
    muted = False
    if user_id is not None:
        muted = "m" in await class_access.moderation_flags(ctx, class_id, user_id)
    return ClassState(
        seq=snap.seq,
        class_id=class_id,
        status=status,
        presence_count=snap.presence_count,
        open_poll=polls.poll_from_redis(class_id, snap.poll, snap.poll_counts) if status == "live" else None,
        raised_hands=[
            RaisedHand(user_id=u, name=n, raised_at=live_messages.iso_ms(ms)) for u, n, ms in snap.hands
        ],
        screen_share=share,
        recent_chat=chat,
        muted=muted,
    )


async def state(ctx: AppContext, principal: Principal, class_id: str, *, found: ClassAccess | None = None) -> ClassState:
    """`GET /api/classes/{classId}/state`: class members only."""
    if found is None:
        await class_access.require_member(ctx, principal, class_id)
    return await snapshot(ctx, class_id, user_id=principal.user_id)


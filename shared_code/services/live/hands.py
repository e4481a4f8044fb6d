"""Raised hands in a live class, kept in the order they went up.

Hands live in a Redis sorted set scored by the time each went up; raising again keeps the
original place. A student lowers their own hand; the tutor (or an admin) lowers anyone's,
through the `lowerHand {userId}` event or the moderation endpoint. A hand also goes down
when its owner's last connection leaves, and all hands go down when the class ends.
"""

from __future__ import annotations

from typing import Any

from shared_code.adapters.redis import live as live_redis
from shared_code.context import AppContext
from shared_code.models.live import LowerHandEvent, RaiseHandEvent
from shared_code.services.live import class_access
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import Member
from shared_code.services.live.messages import Refused

# Hand and reaction events are cheap for one user and costly for a thousand: a user gets
# this many per ten seconds.
RATE_LIMIT = 10
RATE_PERIOD_MS = 10_000


async def raise_hand(ctx: AppContext, member: Member, event: RaiseHandEvent) -> dict[str, Any]:
    meta = await class_access.class_meta(ctx, member.class_id)
    if meta.status == "ended":
        raise Refused("class-ended", "The class has ended.")
    decision = await ctx.rate_limits.allow(
        "hand", f"{member.class_id}:{member.user_id}", limit=RATE_LIMIT, period_ms=RATE_PERIOD_MS
    )
    if not decision.allowed:
        raise Refused("rate-limited", "Too many hand changes; wait a moment.", retry_after_ms=decision.retry_after_ms)
    at = live_messages.now_ms()
    seq = await live_redis.raise_hand(ctx.redis, member.class_id, member.user_id, member.name, at)
    if seq:
        await live_messages.to_class(
            ctx, member.class_id,
            live_messages.envelope(
                "hand.raised", member.class_id, seq, at,
                userId=member.user_id, name=member.name, raisedAt=live_messages.iso_ms(at),
            ),
        )
        return {"seq": seq, "changed": True}
    return {"changed": False}


async def lower(ctx: AppContext, class_id: str, user_id: str, *, by: str) -> int:
    """Lowers one hand; the message's seq, or 0 when the hand was not up."""
    at = live_messages.now_ms()
    seq = await live_redis.lower_hand(ctx.redis, class_id, user_id, at)
    if seq:
        await live_messages.to_class(
            ctx, class_id, live_messages.envelope("hand.lowered", class_id, seq, at, userId=user_id, by=by)
        )
    return seq


async def lower_hand(ctx: AppContext, member: Member, event: LowerHandEvent) -> dict[str, Any]:
    target = str(event.user_id) if event.user_id else member.user_id
    if target != member.user_id and not member.is_staff:
        raise Refused("forbidden", "Only the tutor may lower another person's hand.")
    seq = await lower(ctx, member.class_id, target, by=member.user_id)
    return {"seq": seq, "changed": True, "userId": target} if seq else {"changed": False, "userId": target}


async def lower_all(ctx: AppContext, class_id: str, *, by: str) -> int:
    at = live_messages.now_ms()
    seq = await live_redis.clear_hands(ctx.redis, class_id, at)
    if seq:
        await live_messages.to_class(
            ctx, class_id, live_messages.envelope("hand.lowered", class_id, seq, at, userId=None, all=True, by=by)
        )
    return seq

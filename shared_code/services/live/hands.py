"""Raised hands in a live class, kept in the order they went up.

Hands live in a Redis sorted set scored by the time each went up; raising again keeps the
original place. A student lowers their own hand; the tutor (or an admin) lowers anyone's,
through the `lowerHand {userId}` event or the moderation endpoint. A hand also goes down
when its owner's last connection leaves, and all hands go down when the class ends.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from shared_code.adapters.redis import live as live_redis
from shared_code.adapters.redis.live_room import Outcome, Rate
from shared_code.context import AppContext
from shared_code.domain.ratelimit import emission_interval_ms
from shared_code.models.live import LowerHandEvent, RaiseHandEvent
from shared_code.services.live import class_access
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import Member
from shared_code.services.live.messages import Refused

# Hand and reaction events are cheap for one user and costly for a thousand: a user gets
# this many per ten seconds.
RATE_LIMIT = 10
RATE_PERIOD_MS = 10_000
RATE = Rate(emission_interval_ms(RATE_LIMIT, RATE_PERIOD_MS), RATE_LIMIT)


async def _raise(ctx: AppContext, member: Member, at: int) -> Outcome:
    for _ in range(2):
        outcome = await ctx.room_store.raise_hand(member.class_id, member.user_id, member.name, at, RATE)
        if outcome.code != "cold-meta":
            return outcome
        await class_access.class_meta(ctx, member.class_id)  # fills Redis from PostgreSQL
    raise Refused("unavailable", "Live features are briefly unavailable; try again.")


async def raise_hand(ctx: AppContext, member: Member, event: RaiseHandEvent) -> dict[str, Any]:
    """One Redis call checks the class, applies the rate and raises the hand
    (`adapters/redis/live_room.py`); its answer words the refusal or the acknowledgement."""
    at = live_messages.now_ms()
    try:
        outcome = await _raise(ctx, member, at)
    except RedisError:
        # Redis is down: a raiser in an ended class still learns why (from PostgreSQL).
        if (await class_access.class_meta(ctx, member.class_id)).status == "ended":
            raise Refused("class-ended", "The class has ended.") from None
        raise
    if outcome.code == "ended":
        raise Refused("class-ended", "The class has ended.", seq=outcome.seq)
    if outcome.code == "rate":
        raise Refused("rate-limited", "Too many hand changes; wait a moment.", retry_after_ms=outcome.retry_after_ms,
                      seq=outcome.seq)
    if outcome.code == "ok":
        await live_messages.to_class(
            ctx, member.class_id,
            live_messages.envelope(
                "hand.raised", member.class_id, outcome.seq, at,
                userId=member.user_id, name=member.name, raisedAt=live_messages.iso_ms(at),
            ),
        )
        return {"seq": outcome.seq, "changed": True}
    return {"seq": outcome.seq, "changed": False}  # it was up already and keeps its place


async def _lower(ctx: AppContext, class_id: str, user_id: str, *, by: str) -> tuple[bool, int]:
    at = live_messages.now_ms()
    lowered, seq = await ctx.room_store.lower_hand(class_id, user_id, at)
    if lowered:
        await live_messages.to_class(
            ctx, class_id, live_messages.envelope("hand.lowered", class_id, seq, at, userId=user_id, by=by)
        )
    return lowered, seq


async def lower(ctx: AppContext, class_id: str, user_id: str, *, by: str) -> int:
    """Lowers one hand; the message's seq, or 0 when the hand was not up."""
    lowered, seq = await _lower(ctx, class_id, user_id, by=by)
    return seq if lowered else 0


async def lower_hand(ctx: AppContext, member: Member, event: LowerHandEvent) -> dict[str, Any]:
    target = str(event.user_id) if event.user_id else member.user_id
    if target != member.user_id and not member.is_staff:
        raise Refused("forbidden", "Only the tutor may lower another person's hand.")
    lowered, seq = await _lower(ctx, member.class_id, target, by=member.user_id)
    return {"seq": seq, "changed": lowered, "userId": target}


async def lower_all(ctx: AppContext, class_id: str, *, by: str) -> int:
    at = live_messages.now_ms()
    seq = await live_redis.clear_hands(ctx.redis, class_id, at)
    if seq:
        await live_messages.to_class(
            ctx, class_id, live_messages.envelope("hand.lowered", class_id, seq, at, userId=None, all=True, by=by)
        )
    return seq

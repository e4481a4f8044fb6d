"""What the tutor shows and how the room reacts: screen share and emoji reactions.

Screen share is the tutor's alone: `screenShare {action, streamUrl}` carries the https URL
of the stream at the external video provider, which every client then plays; the current
share is part of the class state. Reactions are not stored: each user may send a few per
ten seconds from a fixed set of emoji, and the class gets them added up, at most a few
`reaction` messages per second however many people react at once.
"""

from __future__ import annotations

from typing import Any

from shared_code.adapters.redis import live as live_redis
from shared_code.adapters.redis.live_room import Rate
from shared_code.context import AppContext
from shared_code.domain.ratelimit import emission_interval_ms
from shared_code.models.live import REACTION_EMOJI, ReactionEvent, ScreenShareEvent
from shared_code.services.live import class_access
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import Member
from shared_code.services.live.messages import Refused, Throttle

REACTION_LIMIT = 10
REACTION_PERIOD_MS = 10_000
REACTION_RATE = Rate(emission_interval_ms(REACTION_LIMIT, REACTION_PERIOD_MS), REACTION_LIMIT)


async def _flush(ctx: AppContext, class_id: str) -> None:
    at = live_messages.now_ms()
    batch = await live_redis.flush_reactions(ctx.redis, class_id, at)
    if batch is None:
        return
    seq, counts = batch
    await live_messages.to_class_now(
        ctx, class_id, live_messages.envelope("reaction", class_id, seq, at, counts=counts)
    )


def reaction_throttle() -> Throttle:
    """This module's broadcast throttle; the bootstrap builds one per process (`ctx.throttles`)."""
    return Throttle("reactions", live_messages.pending_flag("reactions"), _flush)


async def react(ctx: AppContext, member: Member, event: ReactionEvent) -> dict[str, Any]:
    """One Redis call applies the rate, counts the reaction and claims the reaction
    broadcast (`adapters/redis/live_room.py`)."""
    if event.emoji not in REACTION_EMOJI:
        raise Refused("invalid-emoji", f"Reactions are one of {' '.join(REACTION_EMOJI)}.")
    outcome = await ctx.room_store.react(
        member.class_id, member.user_id, event.emoji, rate=REACTION_RATE, hold_ms=live_messages.hold_ms(ctx)
    )
    if outcome.code == "rate":
        raise Refused("rate-limited", "Too many reactions; wait a moment.", retry_after_ms=outcome.retry_after_ms,
                      seq=outcome.seq)
    if outcome.claimed:
        ctx.throttles.reactions.claimed(ctx, member.class_id, live_messages.interval_seconds(ctx))
    return {"seq": outcome.seq, "emoji": event.emoji}


async def screen_share(ctx: AppContext, member: Member, event: ScreenShareEvent) -> dict[str, Any]:
    if not member.is_tutor:
        raise Refused("forbidden", "Only the class's tutor shares a screen.")
    meta = await class_access.class_meta(ctx, member.class_id)
    if meta.status != "live":
        raise Refused("class-not-live", "Screen share runs only while the class is live.")
    at = live_messages.now_ms()
    if event.action == "start":
        share = {"streamUrl": event.stream_url, "startedAt": live_messages.iso_ms(at), "userId": member.user_id}
        seq = await live_redis.set_screen_share(ctx.redis, member.class_id, share, at)
        await live_messages.to_class(
            ctx, member.class_id,
            live_messages.envelope("screenShare.started", member.class_id, seq, at, streamUrl=event.stream_url,
                                   userId=member.user_id),
        )
        return {"seq": seq, "action": "start"}
    seq = await stop_share(ctx, member.class_id, by=member.user_id)
    return {"seq": seq, "action": "stop"} if seq else {"action": "stop", "changed": False}


async def stop_share(ctx: AppContext, class_id: str, *, by: str) -> int:
    at = live_messages.now_ms()
    seq = await live_redis.set_screen_share(ctx.redis, class_id, None, at)
    if seq:
        await live_messages.to_class(
            ctx, class_id, live_messages.envelope("screenShare.stopped", class_id, seq, at, userId=by)
        )
    return seq
